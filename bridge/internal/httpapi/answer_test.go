package httpapi

import (
	"encoding/json"
	"testing"
)

// The hand-written answer is what encoding/json writes.
func TestAnswerJSON(t *testing.T) {
	for _, a := range []Answer{
		{Status: "received", EventID: "f4211f52-309b-5f08-ba23-3ef996ca82f5", Subject: "vocals.t1.complete", Stage: "complete"},
		{Status: "received", EventID: "x", Subject: "a.b.c", Stage: "error", Duplicate: true, Spooled: true},
	} {
		want, _ := json.Marshal(a)
		if got := a.appendJSON(nil); string(got) != string(want)+"\n" {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}
