package cloudevent_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
)

// Binary mode round-trips every golden event, and the header values go as
// they are: the NATS binding has no percent-encoding (that is HTTP's).
func TestBinaryRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "*.json"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		cb, err := callback.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		// The SDK keeps source as a URI, so this is stored as %20 and %E2...,
		// and the header carries exactly that.
		b := cloudevent.NewBuilder("vocals", "/source with space/€", "http://localhost:8080/schemas", time.UTC)
		m, err := b.Build(cb, cloudevent.Source{Body: raw})
		if err != nil {
			t.Fatal(err)
		}
		h, data, err := event.ToBinary(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		if h["ce-source"] != "/source%20with%20space/%E2%82%AC" || h["ce-datacontenttype"] != "application/json" || h["ce-bodysha256"] == "" {
			t.Fatalf("headers %v", h)
		}
		if _, ok := h["Content-Type"]; ok {
			t.Fatal("binary mode must not carry a Content-Type header: receivers read it as structured")
		}
		multi := map[string][]string{}
		for k, v := range h {
			multi[k] = []string{v}
		}
		back, err := event.FromBinary(multi, data)
		if err != nil {
			t.Fatal(err)
		}
		structured, _ := back.MarshalJSON()
		if string(structured) != string(m.Body) {
			t.Errorf("%s: round trip changed the event:\n%s\n%s", filepath.Base(f), structured, m.Body)
		}
	}
}
