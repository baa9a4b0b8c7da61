package callback

import (
	"encoding/json"
	"strings"
	"testing"
)

// validCases are bodies on both sides of json.Valid's rules.
var validCases = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `01`, `1.`, `.5`, `1e`, `1e+`, `1E-2`, `-`, `+1`, `1.5e3`,
	`true`, `tru`, `nul`, `null `, ` null`, `nullx`, `{"a":1,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{a:1}`, `{"a":1}}`,
	`"\u00e9"`, `"\u00g9"`, `"\u12"`, `"\x"`, `"\/"`, "\"\x01\"", "\"\x7f\"", "\"\xff\"", `"\"`, `"abc`,
	`{"a":[{"b":{"c":[null,true,false,"x",-1.5e-7]}}]}`, "\t{\n\"a\"\r:\n1 }\n", `{} {}`, `[1 2]`,
}

func TestScannerMatchesJSONValid(t *testing.T) {
	for _, body := range validCases {
		if _, got := scanCallback(body); got != json.Valid([]byte(body)) {
			t.Errorf("scanner says %v for %q, json.Valid %v", got, body, !got)
		}
	}
}

// encoding/json refuses nesting deeper than 10000; so does the scanner,
// at the same depth.
func TestScannerNestingLimit(t *testing.T) {
	for _, depth := range []int{maxDepth, maxDepth + 1} {
		for _, nest := range []struct{ open, inner, close string }{{"[", "", "]"}, {`{"a":`, "1", "}"}} {
			body := strings.Repeat(nest.open, depth) + nest.inner + strings.Repeat(nest.close, depth)
			if _, got := scanCallback(body); got != json.Valid([]byte(body)) || got != (depth <= maxDepth) {
				t.Errorf("depth %d of %q: scanner %v, json.Valid %v", depth, nest.open, got, json.Valid([]byte(body)))
			}
		}
	}
}

// FuzzValid holds the scanner to json.Valid for any bytes.
func FuzzValid(f *testing.F) {
	for _, body := range validCases {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, got := scanCallback(string(body)); got != json.Valid(body) {
			t.Fatalf("scanner says %v for %q, json.Valid %v", got, body, !got)
		}
	})
}
