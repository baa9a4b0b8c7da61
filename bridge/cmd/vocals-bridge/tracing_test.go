package main_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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

// A task tracked within a trace (a submit request or an announcement
// carrying a traceparent) gets a submitted event in that trace; one
// tracked outside any trace gets none.
func TestBinarySubmittedEventCarriesTheTrace(t *testing.T) {
	t.Parallel()
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	_, simURL := startSim(t, nil)
	p := start(t, t.TempDir(), trackingEnv(t, simURL, "VOCALS_BRIDGE_TRACKING_POLL_AFTER=1m")...).waitReady(t)
	submit := func(traceparent string) string {
		header := http.Header{}
		if traceparent != "" {
			header.Set("traceparent", traceparent)
		}
		resp, raw := submitWith(t, p.submit, header, addVocals("stuck"))
		var ans struct{ Data struct{ TaskID string } }
		if err := json.Unmarshal(raw, &ans); err != nil || ans.Data.TaskID == "" || resp.Header.Get("Vocals-Tracked") != "true" {
			t.Fatalf("submit: HTTP %d %v %s", resp.StatusCode, err, raw)
		}
		return ans.Data.TaskID
	}
	traced, untraced := submit(parent), submit("")

	nc, err := nats.Connect(p.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const announced = "announcedwithintrace"
	m := nats.NewMsg("vocals_announce")
	m.Data = []byte(announced)
	m.Header.Set("traceparent", parent)
	m.Header.Set("tracestate", "app=1")
	if reply, err := nc.RequestMsg(m, 10*time.Second); err != nil || !strings.Contains(string(reply.Data), `"tracked":true`) {
		t.Fatalf("announce: %v %s", err, replyData(reply))
	}

	for task, want := range map[string][2]string{traced: {parent, ""}, announced: {parent, "app=1"}, untraced: {"", ""}} {
		msgs := streamMessages(t, p.natsURL, "vocals_tasks."+task+".submitted")
		if len(msgs) != 1 {
			t.Fatalf("%s: %d submitted events", task, len(msgs))
		}
		schematest.ValidateSubmitted(t, msgs[0].Data)
		var e struct {
			TraceParent string `json:"traceparent"`
			TraceState  string `json:"tracestate"`
		}
		if err := json.Unmarshal(msgs[0].Data, &e); err != nil {
			t.Fatal(err)
		}
		if got := [2]string{e.TraceParent, e.TraceState}; got != want {
			t.Errorf("%s: event trace %q, want %q", task, got, want)
		}
		if got := msgs[0].Header.Get("traceparent"); got != want[0] {
			t.Errorf("%s: traceparent header %q, want %q", task, got, want[0])
		}
	}
}
