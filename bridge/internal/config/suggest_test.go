package config_test

import (
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/config"
)

func TestSuggest(t *testing.T) {
	flags := []string{"stream", "stream-replicas", "stages", "spool-max-bytes"}
	tests := map[string]struct {
		word, want string
	}{
		"one letter missing":  {"stream-replica", " (did you mean --stream-replicas?)"},
		"exact is closest":    {"stream", " (did you mean --stream?)"},
		"transposed":          {"stagse", " (did you mean --stages?)"},
		"nothing near":        {"webhook-hmac", ""},
		"short and far":       {"x", ""},
		"closest of two near": {"streams", " (did you mean --stream?)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := config.Suggest(tc.word, flags, "--", ""); got != tc.want {
				t.Errorf("Suggest(%q) = %q, want %q", tc.word, got, tc.want)
			}
		})
	}
}
