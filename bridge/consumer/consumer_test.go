package consumer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
)

// setup publishes every provider fixture through the bridge's own
// publisher in the given content mode and returns a JetStream handle.
func setup(t *testing.T, mode string) (jetstream.JetStream, *nats.Conn, []outbound.Message) {
	t.Helper()
	srv := natstest.Start(t)
	nc, js := srv.Connect(t)
	pub, err := publish.NewJetStream(nc, "VOCALS", mode, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := publish.EnsureStream(ctx, js, publish.StreamSpec{Name: "VOCALS", SubjectPrefix: "vocals", Replicas: 1, MaxAge: time.Hour, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../internal/callback/testdata/*.json")
	b := cloudevent.NewBuilder("vocals", "/vocals-bridge", "http://localhost:8080/schemas", time.UTC)
	var msgs []outbound.Message
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cb, err := callback.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		// A trace state with a comma and a space: binary mode carries it
		// as a header the SDKs must read back unchanged.
		tr := tracing.Context{Parent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", State: "vendor=a b,other=c%2Cd"}
		m, err := b.Build(cb, cloudevent.Source{Body: raw, Origin: event.OriginCallback, Trace: tr})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pub.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	return js, nc, msgs
}

// Both content modes decode to the same event as the structured body the
// bridge built.
func TestDecodeBothModes(t *testing.T) {
	for _, mode := range []string{event.Structured, event.Binary} {
		t.Run(mode, func(t *testing.T) {
			js, _, built := setup(t, mode)
			stored := natstest.Messages(t, js, "VOCALS", ">")
			if len(stored) != len(built) {
				t.Fatalf("%d stored, %d built", len(stored), len(built))
			}
			for i, m := range stored {
				if mode == event.Binary && m.Header.Get("ce-id") == "" {
					t.Fatalf("binary mode message has no ce-id header: %v", m.Header)
				}
				got, err := consumer.Decode(m.Subject, m.Header, m.Data)
				if err != nil {
					t.Fatalf("%s: %v", m.Subject, err)
				}
				want, err := consumer.Decode(built[i].Subject, nats.Header{"Content-Type": {event.ContentType}}, built[i].Body)
				if err != nil {
					t.Fatal(err)
				}
				if got.CloudEvent.String() != want.CloudEvent.String() || got.Stage != want.Stage || got.Data.TaskID != want.Data.TaskID {
					t.Errorf("%s decodes differently:\n%s\nwant\n%s", m.Subject, got.CloudEvent, want.CloudEvent)
				}
				if f, ok := got.Failure(); ok != (got.Stage == event.StageError) || (ok && f.Code != got.Data.Code) {
					t.Errorf("%s: Failure() = %+v %v", m.Subject, f, ok)
				}
			}
		})
	}
}

func TestDecodeRefusesOtherMessages(t *testing.T) {
	for name, tc := range map[string]struct {
		header nats.Header
		data   string
	}{
		"not json":          {nil, "hello"},
		"other type":        {nats.Header{"Content-Type": {event.ContentType}}, `{"specversion":"1.0","id":"1","source":"/x","type":"com.example.other","data":{}}`},
		"stage mismatch":    {nats.Header{"Content-Type": {event.ContentType}}, `{"specversion":"1.0","id":"1","source":"/x","type":"com.sunoapi.vocals.complete.v1","data":{"stage":"text"}}`},
		"binary no version": {nats.Header{"ce-specversion": {"0.3"}, "ce-id": {"1"}}, `{}`},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := consumer.Decode("vocals.x.complete", tc.header, []byte(tc.data)); !errors.Is(err, consumer.ErrNotVocalsEvent) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// A timeout event is the bridge's verdict: its own type and subject, an
// error in its data, read as a failure; its type on another stage's
// subject, or with other data, is refused.
func TestDecodeTimeout(t *testing.T) {
	structured := nats.Header{"Content-Type": {event.ContentType}}
	timeout := func(typ, stage string) string {
		return `{"specversion":"1.0","id":"1","source":"/x","type":"` + typ + `","subject":"TASKA","origin":"timeout",` +
			`"data":{"task_id":"TASKA","stage":"` + stage + `","callback_type":"","code":408,"code_reason":"rate_limited","msg":"timeout: 1h","lyrics":[]}}`
	}
	tests := map[string]struct {
		subject, data string
		want          error
	}{
		"timeout":                {"lyrics.TASKA.timeout", timeout("com.sunoapi.lyrics.timeout.v1", "error"), nil},
		"on the error subject":   {"lyrics.TASKA.error", timeout("com.sunoapi.lyrics.timeout.v1", "error"), consumer.ErrInconsistent},
		"error under its type":   {"lyrics.TASKA.error", timeout("com.sunoapi.lyrics.error.v1", "error"), nil},
		"data stage not error":   {"lyrics.TASKA.timeout", timeout("com.sunoapi.lyrics.timeout.v1", "timeout"), consumer.ErrNotVocalsEvent},
		"data stage is complete": {"lyrics.TASKA.timeout", timeout("com.sunoapi.lyrics.timeout.v1", "complete"), consumer.ErrNotVocalsEvent},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e, err := consumer.Decode(tc.subject, structured, []byte(tc.data))
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f, ok := e.Failure()
			if !ok || f.Code != 408 || f.Msg != "timeout: 1h" || e.Origin() != event.OriginTimeout {
				t.Errorf("failure %+v %v, origin %s", f, ok, e.Origin())
			}
		})
	}
}

// Subject, type, stage and task id must agree, and the task id must be
// one the bridge accepts: an event someone else published that names
// other tasks is a typed error, not a trusted event.
func TestDecodeRefusesInconsistentEvents(t *testing.T) {
	structured := nats.Header{"Content-Type": {event.ContentType}}
	lyrics := func(ceSubject, task string) string {
		return `{"specversion":"1.0","id":"1","source":"/x","type":"com.sunoapi.lyrics.complete.v1","subject":"` + ceSubject + `",` +
			`"data":{"task_id":"` + task + `","stage":"complete","callback_type":"","code":200,"code_reason":"success","msg":"ok","lyrics":[]}}`
	}
	tests := map[string]struct {
		subject, data string
		ok            bool
	}{
		"consistent":               {"lyrics.TASKA.complete", lyrics("TASKA", "TASKA"), true},
		"renamed prefix":           {"songtext.words.TASKA.complete", lyrics("TASKA", "TASKA"), true},
		"not from NATS":            {"", lyrics("TASKA", "TASKA"), true},
		"subject names another":    {"vocals.TASKA.complete", lyrics("TASKB", "TASKB"), false},
		"CE subject names another": {"lyrics.TASKA.complete", lyrics("TASKB", "TASKA"), false},
		"subject's stage differs":  {"lyrics.TASKA.error", lyrics("TASKA", "TASKA"), false},
		"control characters":       {"", lyrics("", "TA\\u001b[2JSK"), false},
		"too short a subject":      {"TASKA.complete", lyrics("TASKA", "TASKA"), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := consumer.Decode(tc.subject, structured, []byte(tc.data))
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && (!errors.Is(err, consumer.ErrInconsistent) || !errors.Is(err, consumer.ErrNotVocalsEvent)) {
				t.Fatalf("got %v, want ErrInconsistent", err)
			}
		})
	}
}

// Consume delivers only the chosen stages; a failing handler gets the event
// again after the backoff; Term stops redelivery; success acknowledges.
func TestConsumeStagesRedeliveryAndTerm(t *testing.T) {
	js, _, built := setup(t, event.Binary)
	want := 0
	for _, m := range built {
		if m.Stage == event.StageComplete || m.Stage == event.StageError {
			want++
		}
	}
	var (
		mu       sync.Mutex
		attempts = map[string]int{}
		done     = map[string]bool{}
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- consumer.Consume(ctx, js, consumer.Options{
			Durable: "test", Stages: []event.Stage{event.StageComplete, event.StageError},
			Backoff: []time.Duration{50 * time.Millisecond},
		}, func(_ context.Context, e consumer.Event) error {
			mu.Lock()
			defer mu.Unlock()
			if e.Stage != event.StageComplete && e.Stage != event.StageError {
				t.Errorf("received stage %s", e.Stage)
			}
			attempts[e.Subject]++
			switch {
			case e.Stage == event.StageComplete && attempts[e.Subject] == 1:
				return errors.New("downstream busy") // redelivered
			case e.Data.Code == 408:
				done[e.Subject] = true
				return consumer.Term(errors.New("never retry rate limits")) // not redelivered
			}
			done[e.Subject] = true
			return nil
		})
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(done)
		mu.Unlock()
		if n == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handled %d of %d events: %v", n, want, attempts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Nothing can be redelivered once the server holds every message
	// acknowledged (or terminated) and none still to deliver.
	for {
		info, err := js.Consumer(ctx, "VOCALS", "test")
		if err == nil {
			ci, err := info.Info(ctx)
			if err == nil && ci.NumAckPending == 0 && ci.NumPending == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer still holds unacknowledged events: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for subj, n := range attempts {
		wantN := 1
		if strings.HasSuffix(subj, ".complete") {
			wantN = 2
		}
		if n != wantN {
			t.Errorf("%s handled %d times, want %d", subj, n, wantN)
		}
	}
	info, err := js.Consumer(context.Background(), "VOCALS", "test")
	if err != nil {
		t.Fatal(err)
	}
	if ci := info.CachedInfo(); ci.NumAckPending != 0 || ci.NumPending != 0 {
		t.Errorf("consumer left %d pending acks and %d pending messages", ci.NumAckPending, ci.NumPending)
	}
}

func TestConsumeNeedsADurableName(t *testing.T) {
	if err := consumer.Consume(context.Background(), nil, consumer.Options{}, nil); err == nil {
		t.Fatal("accepted options without a durable name")
	}
}

// Origin reads the attribute in both modes; an event without it (from a
// bridge that predates it) counts as a callback.
func TestOrigin(t *testing.T) {
	b := cloudevent.NewBuilder("vocals", "/vocals-bridge", "http://localhost:8080/schemas", time.UTC)
	cb := callback.Callback{Family: event.FamilyVocals, TaskID: "t1", Stage: event.StageComplete, CallbackType: "complete", Code: 200}
	polled, err := b.Build(cb, cloudevent.Source{Body: []byte(`{}`), Origin: event.OriginPoll})
	if err != nil {
		t.Fatal(err)
	}
	old := []byte(`{"specversion":"1.0","id":"1","source":"/x","type":"com.sunoapi.vocals.complete.v1","datacontenttype":"application/json","data":{"task_id":"t1","stage":"complete","tracks":[]}}`)
	header, data, err := event.ToBinary(polled.Body)
	if err != nil {
		t.Fatal(err)
	}
	binHeader := nats.Header{}
	for k, v := range header {
		binHeader.Set(k, v)
	}
	structured := nats.Header{"Content-Type": {event.ContentType}}
	tests := []struct {
		name   string
		header nats.Header
		body   []byte
		want   event.Origin
	}{
		{"poll, structured", structured, polled.Body, event.OriginPoll},
		{"poll, binary", binHeader, data, event.OriginPoll},
		{"no attribute", structured, old, event.OriginCallback},
	}
	for _, tt := range tests {
		e, err := consumer.Decode("vocals.t1.complete", tt.header, tt.body)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if e.Origin() != tt.want {
			t.Errorf("%s: origin %s, want %s", tt.name, e.Origin(), tt.want)
		}
	}
}
