package event_test

import (
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

func TestFromBinaryHeaderValues(t *testing.T) {
	base := func(subject string) map[string][]string {
		return map[string][]string{"Ce-Specversion": {"1.0"}, "CE-ID": {"1"}, "ce-type": {"t"}, "ce-source": {"/s"}, "ce-subject": {subject}}
	}
	// The NATS binding does not percent-encode: values are read verbatim.
	tests := map[string]struct {
		subject string
		want    string
		ok      bool
	}{
		"UTF-8":                {"Euro € 😀", "Euro € 😀", true},
		"a comma and a space":  {"vendor=a,b c", "vendor=a,b c", true},
		"percent is a percent": {"a%2Cb", "a%2Cb", true},
		"double-quoted":        {`"a b \"c\""`, `a b "c"`, true},
		"not UTF-8":            {"\xc0\xa0", "", false},
		"lone continuation":    {"\x80", "", false},
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

// ToBinary sends values as they are, and refuses a line break, which would
// end the header.
func TestToBinaryValuesAsTheyAre(t *testing.T) {
	ev := func(subject string) []byte {
		return []byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":"` + subject + `","tracestate":"vendor=a b,x=c%2Cd","data":{}}`)
	}
	h, _, err := event.ToBinary(ev("task"))
	if err != nil || h["ce-tracestate"] != "vendor=a b,x=c%2Cd" || h["ce-subject"] != "task" {
		t.Fatalf("headers %v, %v", h, err)
	}
	if _, _, err := event.ToBinary(ev(`a\r\nce-type: forged`)); err == nil {
		t.Error("a line break in a value was sent as a header")
	}
}
