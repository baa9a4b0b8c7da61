package deadletter_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deadletter"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
)

var spec = deadletter.StreamSpec{Name: "VOCALS_DLQ", SubjectPrefix: "vocals_dlq", Replicas: 1, MaxAge: time.Hour, MaxBytes: 1 << 20}

// outcomes counts what a Writer reports.
type outcomes struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *outcomes) hook(s string) { o.mu.Lock(); o.n[s]++; o.mu.Unlock() }
func (o *outcomes) get(s string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[s]
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func rejection(reason, body, requestID string, size int64) deadletter.Rejection {
	return deadletter.Rejection{Reason: reason, Error: "test", RequestID: requestID, ContentType: "application/json",
		Body: []byte(body), BodySize: size, At: time.Now()}
}

func freeURL(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("nats://127.0.0.1:%d", natstest.FreePort(t))
}

// Refusals during a NATS outage wait in the queue and reach the stream,
// in order, once NATS is back.
func TestQueuedDuringAnOutageReachTheStream(t *testing.T) {
	url := freeURL(t)
	nc, err := nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	o := &outcomes{n: map[string]int{}}
	w := deadletter.New(js, spec, 1024, 1<<20, o.hook)
	for i := range 3 {
		w.Record(rejection("malformed_json", fmt.Sprintf("{%d", i), fmt.Sprint("r", i), 2))
	}
	if n, _ := w.Queued(); n != 3 {
		t.Fatalf("during the outage: %d queued", n)
	}

	srv := natstest.StartAt(t, t.TempDir(), url)
	_, js2 := srv.Connect(t)
	if err := w.EnsureStream(context.Background()); err != nil {
		eventually(t, "the dead-letter stream", func() bool { return w.EnsureStream(context.Background()) == nil })
	}
	eventually(t, "the queue to drain", func() bool { n, _ := w.Queued(); return n == 0 })
	msgs := natstest.Messages(t, js2, "VOCALS_DLQ", "vocals_dlq.malformed_json.>")
	if len(msgs) != 3 || string(msgs[0].Data) != "{0" || string(msgs[2].Data) != "{2" {
		t.Fatalf("stream holds %d dead letters, want the 3 in order", len(msgs))
	}
	if left := w.Close(context.Background()); left != 0 || o.get(deadletter.OutcomePublished) != 3 ||
		o.get(deadletter.OutcomeFailed)+o.get(deadletter.OutcomeDropped) != 0 {
		t.Errorf("%d left at close, outcomes %v: want all 3 published after the outage, none failed or dropped", left, o.n)
	}
}

// The queue is bounded in bytes: past it the oldest are dropped, counted.
func TestQueueIsBounded(t *testing.T) {
	nc, err := nats.Connect(freeURL(t), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	o := &outcomes{n: map[string]int{}}
	w := deadletter.New(js, spec, 1024, 3*(1024+1000), o.hook)
	for i := range 10 {
		w.Record(rejection("malformed_json", string(make([]byte, 1000)), fmt.Sprint(i), 1000))
	}
	if n, b := w.Queued(); n != 3 || b > 3*(1024+1000) || o.get(deadletter.OutcomeDropped) != 7 {
		t.Fatalf("%d queued (%d bytes), %d dropped; want 3 kept, 7 dropped", n, b, o.get(deadletter.OutcomeDropped))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if left := w.Close(ctx); left != 3 || o.get(deadletter.OutcomeDropped) != 10 {
		t.Errorf("close left %d, dropped %d", left, o.get(deadletter.OutcomeDropped))
	}
}

// Distinct requests give distinct dead letters, also when their bodies
// were never read (too large); the same body refused twice (a provider
// retry) is kept once.
func TestDistinctRequestsDistinctDeadLetters(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect(t)
	o := &outcomes{n: map[string]int{}}
	w := deadletter.New(js, spec, 1024, 1<<20, o.hook)
	defer w.Close(context.Background())
	if err := w.EnsureStream(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Record(rejection("body_too_large", "", "req-a", 5<<20))
	w.Record(rejection("body_too_large", "", "req-b", 5<<20))
	w.Record(rejection("malformed_json", "{x", "req-c", 2))
	w.Record(rejection("malformed_json", "{x", "req-d", 2))
	eventually(t, "four outcomes", func() bool {
		return o.get(deadletter.OutcomePublished)+o.get(deadletter.OutcomeDuplicate) == 4
	})
	if n := len(natstest.Messages(t, js, "VOCALS_DLQ", "vocals_dlq.body_too_large.>")); n != 2 {
		t.Errorf("%d dead letters for two different oversized requests, want 2", n)
	}
	if n := len(natstest.Messages(t, js, "VOCALS_DLQ", "vocals_dlq.malformed_json.>")); n != 1 || o.get(deadletter.OutcomeDuplicate) != 1 {
		t.Errorf("%d dead letters for one body refused twice, want 1 (and a duplicate)", n)
	}
}
