package redact_test

import (
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/redact"
)

func TestURL(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"user and password":     {"nats://bridgeuser:s3cret@nats.example:4222", "nats://***@nats.example:4222"},
		"token as user":         {"nats://tok3n@127.0.0.1:4222", "nats://***@127.0.0.1:4222"},
		"no credentials":        {"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		"@ in the path":         {"https://host/a@b", "https://***@b"},
		"callback token":        {"https://hooks.example/callbacks/vocals?token=abc", "https://hooks.example/callbacks/vocals?***"},
		"both":                  {"https://u:p@h/x?token=abc&y=1", "https://***@h/x?***"},
		"broken but redacted":   {"nats//u:p@h ?token=t", "nats//***@h ?***"},
		"password with slashes": {"nats://u:a/b@h:4222", "nats://***@h:4222"},
		"no scheme":             {"u:p@h:4222", "***@h:4222"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := redact.URL(tc.in); got != tc.want {
				t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
