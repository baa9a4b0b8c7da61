package httpapi

import (
	"regexp"
	"strings"
	"testing"
)

// validRequestID is the documented pattern, written as a loop.
func TestValidRequestIDMatchesThePattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	ids := []string{"", "a", "abc-123", "a.b_c", strings.Repeat("x", 64), strings.Repeat("x", 65), "a b", "a\t", "é", "a/b"}
	for c := 0; c < 256; c++ {
		ids = append(ids, "ab"+string(rune(c)), string([]byte{byte(c)}))
	}
	for _, id := range ids {
		if got, want := validRequestID(id), pattern.MatchString(id); got != want {
			t.Errorf("validRequestID(%q) = %v, the pattern says %v", id, got, want)
		}
	}
}
