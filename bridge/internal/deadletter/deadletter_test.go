package deadletter_test

import (
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deadletter"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
)

// With publishes that cannot finish (a plain subscriber takes the subject
// and never answers, so each waits for its timeout), at most 64 dead
// letters are in flight; the rest are dropped and counted at once instead
// of piling up behind the answers.
func TestAtMost64InFlightThenDropped(t *testing.T) {
	srv := natstest.Start(t)
	nc, js := srv.Connect(t)
	sub, err := nc.Subscribe("vocals_dlq.>", func(*nats.Msg) {}) // never replies
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	var (
		mu       sync.Mutex
		outcomes = map[string]int{}
	)
	w := deadletter.New(js, deadletter.StreamSpec{Name: "VOCALS_DLQ", SubjectPrefix: "vocals_dlq"}, 1024, func(o string) {
		mu.Lock()
		outcomes[o]++
		mu.Unlock()
	})
	for i := 0; i < 100; i++ {
		w.Record(deadletter.Rejection{Reason: "malformed_json", Body: []byte{byte(i)}, BodySize: 1, At: time.Now()})
	}
	mu.Lock()
	dropped := outcomes[deadletter.OutcomeDropped]
	mu.Unlock()
	if dropped != 36 {
		t.Fatalf("%d dropped at once, want 36 (100 minus 64 in flight)", dropped)
	}
	w.Wait()
	if outcomes[deadletter.OutcomeFailed] != 64 {
		t.Errorf("outcomes %v, want 64 failed after their timeout", outcomes)
	}
}
