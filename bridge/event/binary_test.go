package event_test

import (
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

func TestFromBinaryHeaderValues(t *testing.T) {
	base := func(subject string) map[string][]string {
		return map[string][]string{"Ce-Specversion": {"1.0"}, "CE-ID": {"1"}, "ce-type": {"t"}, "ce-source": {"/s"}, "ce-subject": {subject}}
	}
	tests := map[string]struct {
		subject string
		want    string
		ok      bool
	}{
		"spec example":       {"Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro € 😀", true},
		"lower-case hex":     {"a%2fb", "a/b", true},
		"needlessly encoded": {"%61bc", "abc", true},
		"double-quoted":      {`"a b \"c\""`, `a b "c"`, true},
		"overlong utf-8":     {"%C0%A0", "", false},
		"broken escape":      {"%G1", "", false},
		"lone continuation":  {"%80", "", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e, err := event.FromBinary(base(tc.subject), nil)
			if tc.ok != (err == nil) {
				t.Fatalf("err %v", err)
			}
			if tc.ok && e.Subject() != tc.want {
				t.Errorf("subject %q, want %q", e.Subject(), tc.want)
			}
		})
	}
}
