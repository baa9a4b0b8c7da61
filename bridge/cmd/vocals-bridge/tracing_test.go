package main_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/schematest"
)

// An incoming traceparent reaches the event and the NATS message even with
// tracing off (nothing exported, the provider's context passed on), in
// both content modes, and survives the spool: an event spooled during an
// outage is drained with it.
func TestBinaryCarriesTheTraceContext(t *testing.T) {
	t.Parallel()
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	hdr := map[string]string{"traceparent": parent, "tracestate": "provider=sim"}
	check := func(t *testing.T, url, subject string) {
		t.Helper()
		msgs := streamMessages(t, url, subject)
		if len(msgs) != 1 {
			t.Fatalf("%d messages on %s", len(msgs), subject)
		}
		m := msgs[0]
		if m.Header.Get("traceparent") != parent || m.Header.Get("tracestate") != "provider=sim" {
			t.Errorf("%s: headers %v", subject, m.Header)
		}
		e, err := consumer.Decode(m.Subject, m.Header, m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if e.CloudEvent.Extensions()["traceparent"] != parent || e.CloudEvent.Extensions()["tracestate"] != "provider=sim" {
			t.Errorf("%s: extensions %v", subject, e.CloudEvent.Extensions())
		}
		if m.Header.Get("Content-Type") != "" { // structured
			schematest.ValidateEvent(t, m.Data)
		}
	}
	for _, mode := range []string{"structured", "binary"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			p := start(t, t.TempDir(), "VOCALS_BRIDGE_CONTENT_MODE="+mode)
			if r := postWith(t, p.public+"/callbacks/vocals", faultCallback("traced"+mode), hdr); r.status != http.StatusOK {
				t.Fatalf("%d %+v", r.status, r.a)
			}
			check(t, p.natsURL, "vocals.traced"+mode+".complete")
		})
	}
	t.Run("spooled", func(t *testing.T) {
		t.Parallel()
		n := startNATS(t)
		p := startBridge(t, n, t.TempDir())
		n.kill(t)
		if r := postWith(t, p.public+"/callbacks/vocals", faultCallback("tracedspool"), hdr); r.status != http.StatusOK || !r.a.Spooled {
			t.Fatalf("%d %+v", r.status, r.a)
		}
		n.start(t)
		waitDrained(t, p)
		check(t, n.url, "vocals.tracedspool.complete")
	})
	t.Run("none", func(t *testing.T) {
		t.Parallel()
		p := start(t, t.TempDir())
		if r := postWith(t, p.public+"/callbacks/vocals", faultCallback("untraced"), nil); r.status != http.StatusOK {
			t.Fatalf("%d %+v", r.status, r.a)
		}
		m := streamMessages(t, p.natsURL, "vocals.untraced.complete")[0]
		if m.Header.Get("traceparent") != "" || strings.Contains(string(m.Data), "traceparent") {
			t.Errorf("an event without a trace carries one: %v %s", m.Header, m.Data)
		}
	})
}
