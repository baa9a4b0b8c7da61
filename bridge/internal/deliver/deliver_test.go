package deliver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/spool"
)

type env struct {
	storeDir string
	spoolDir string
	srv      *natstest.Server
	pub      *publish.JetStream
	sp       *spool.Spool
	d        *deliver.Deliverer
}

// setup runs a real JetStream server and a publisher whose connection
// survives the server's restarts.
func setup(t *testing.T, limits spool.Limits) *env {
	t.Helper()
	e := &env{storeDir: t.TempDir()}
	e.srv = natstest.StartIn(t, e.storeDir)
	nc, err := publish.Connect([]string{e.srv.URL}, natstest.Logger(t), publish.ConnHooks{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if e.pub, err = publish.NewJetStream(nc, "VOCALS", event.Structured, 1<<20); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := publish.EnsureStream(ctx, e.pub.JS(), publish.StreamSpec{
		Name: "VOCALS", SubjectPrefix: "vocals", Replicas: 1, MaxAge: time.Hour, Duplicates: 30 * time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	e.spoolDir = filepath.Join(t.TempDir(), "spool")
	e.sp, _, err = spool.Open(e.spoolDir, limits, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.sp.Close() })
	e.d = deliver.New(e.pub, e.sp, nil, time.Second, e.pub.MaxEvent)
	return e
}

// restart brings the server back on the same port and store.
func (e *env) restart(t *testing.T) {
	t.Helper()
	e.srv = natstest.StartAt(t, e.storeDir, e.srv.URL)
}

func message(i int) outbound.Message {
	task := fmt.Sprintf("task%d", i)
	return outbound.Message{ID: event.ID(task, event.StageComplete), Subject: event.Subject("vocals", task, event.StageComplete),
		Stage: event.StageComplete, TaskID: task, Body: []byte(fmt.Sprintf(`{"n":%d}`, i))}
}

func deliverOK(t *testing.T, d *deliver.Deliverer, m outbound.Message, want deliver.Outcome) deliver.Result {
	t.Helper()
	r, err := d.Deliver(context.Background(), m)
	if err != nil || r.Outcome != want {
		t.Fatalf("%s: got %+v %v, want %s", m.TaskID, r, err, want)
	}
	return r
}

func stored(t *testing.T, e *env) []*jetstream.RawStreamMsg {
	t.Helper()
	_, js := e.srv.Connect(t)
	return natstest.Messages(t, js, "VOCALS", ">")
}

func TestPublishedWhenTheStreamAnswers(t *testing.T) {
	e := setup(t, spool.Limits{})
	deliverOK(t, e.d, message(1), deliver.Published)
	deliverOK(t, e.d, message(1), deliver.Duplicate)
	if e.sp.Len() != 0 {
		t.Fatal("spooled although the stream answered")
	}
}

// The whole outage story: events spool while the server is down, retries
// of spooled events add nothing, new events queue behind the backlog, and
// the drainer delivers each exactly once, in order, when it is back.
func TestOutageSpoolsThenDrainsExactlyOnce(t *testing.T) {
	e := setup(t, spool.Limits{})
	deliverOK(t, e.d, message(0), deliver.Published)
	e.srv.Shutdown()

	r := deliverOK(t, e.d, message(1), deliver.Spooled)
	if r.PublishErr == nil || !errors.Is(r.PublishErr, publish.ErrUnavailable) {
		t.Errorf("spooled without a publish error: %+v", r)
	}
	for i := 2; i <= 5; i++ {
		deliverOK(t, e.d, message(i), deliver.Spooled)
	}
	if r := deliverOK(t, e.d, message(3), deliver.Duplicate); !r.Spooled || r.Published != 0 {
		t.Errorf("retry of a spooled event: %+v", r)
	}
	deliverOK(t, e.d, message(0), deliver.Spooled) // its first delivery reached the stream before the outage
	if e.sp.Len() != 6 {
		t.Fatalf("spool holds %d, want 6", e.sp.Len())
	}

	e.restart(t)
	// Back up, but the backlog is not drained yet: new events join it.
	deliverOK(t, e.d, message(6), deliver.Spooled)

	var drained, failures atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&deliver.Drainer{Spool: e.sp, Publisher: e.pub, Log: zaptest.NewLogger(t),
			Timeout: time.Second, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			Hooks: deliver.DrainHooks{Drained: func() { drained.Add(1) }, Error: func(string) { failures.Add(1) }},
		}).Run(ctx)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for e.sp.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("spool still holds %d after 15s", e.sp.Len())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done

	msgs := stored(t, e)
	if len(msgs) != 7 {
		t.Fatalf("stream holds %d messages, want 7", len(msgs))
	}
	for i, m := range msgs {
		if want := fmt.Sprintf("vocals.task%d.complete", i); m.Subject != want {
			t.Errorf("message %d is %s, want %s (order)", i, m.Subject, want)
		}
	}
	if drained.Load() != 7 {
		t.Errorf("drained %d, want 7 (the duplicate of task0 counts)", drained.Load())
	}
	// With the backlog gone, events go straight to the stream again.
	deliverOK(t, e.d, message(7), deliver.Published)
}

func TestSpoolFull(t *testing.T) {
	e := setup(t, spool.Limits{MaxEntries: 2})
	e.srv.Shutdown()
	deliverOK(t, e.d, message(1), deliver.Spooled)
	deliverOK(t, e.d, message(2), deliver.Spooled)
	if _, err := e.d.Deliver(context.Background(), message(3)); !errors.Is(err, spool.ErrFull) {
		t.Fatalf("third event: %v", err)
	}
	deliverOK(t, e.d, message(1), deliver.Duplicate) // a retry of an accepted one is still fine
}

func TestWithoutSpoolFailuresAreReturned(t *testing.T) {
	e := setup(t, spool.Limits{})
	e.srv.Shutdown()
	d := deliver.New(e.pub, nil, nil, time.Second, nil)
	if _, err := d.Deliver(context.Background(), message(1)); !errors.Is(err, publish.ErrUnavailable) {
		t.Fatalf("got %v", err)
	}
}

// An event the stream refuses for good is kept in rejected.log, and the
// events behind it still drain.
func TestDrainerSetsAsideRejectedEvents(t *testing.T) {
	e := setup(t, spool.Limits{})
	_, js := e.srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	bad := message(1)
	bad.Subject = "other.task1.complete" // bound to a different stream: ErrRejected
	for _, m := range []outbound.Message{bad, message(2)} {
		if err := e.sp.Append(m); err != nil {
			t.Fatal(err)
		}
	}
	var reasons []string
	dctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&deliver.Drainer{Spool: e.sp, Publisher: e.pub, Log: zaptest.NewLogger(t),
			Timeout: time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
			Hooks: deliver.DrainHooks{Error: func(r string) { reasons = append(reasons, r) }},
		}).Run(dctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for e.sp.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	if e.sp.Len() != 0 || len(reasons) != 1 || reasons[0] != "rejected" {
		t.Fatalf("spool len %d, errors %v", e.sp.Len(), reasons)
	}
	if n := len(natstest.Messages(t, js, "VOCALS", ">")); n != 1 {
		t.Fatalf("VOCALS holds %d, want the one good event", n)
	}
	info, err := os.Stat(filepath.Join(e.spoolDir, "rejected.log"))
	if err != nil || info.Size() == 0 {
		t.Fatalf("rejected.log: %v", err)
	}
}

// drain runs a Drainer until the test ends, counting its errors by reason.
func drain(t *testing.T, e *env) func(reason string) int {
	t.Helper()
	var mu sync.Mutex
	reasons := map[string]int{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&deliver.Drainer{Spool: e.sp, Publisher: e.pub, Log: zaptest.NewLogger(t),
			Timeout: time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
			Hooks: deliver.DrainHooks{Error: func(r string) { mu.Lock(); reasons[r]++; mu.Unlock() }},
		}).Run(ctx)
	}()
	t.Cleanup(func() { stop(); <-done })
	return func(r string) int { mu.Lock(); defer mu.Unlock(); return reasons[r] }
}

// waitUntil polls cond every 10 ms for at most 20 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A record that cannot be read for now (here its segment is a directory
// for a while: reading it fails as EMFILE or EIO would) is an answered
// event: it stays at the head and is read again until it can be, then
// published; nothing behind it is lost.
func TestDrainerKeepsARecordItCannotReadYet(t *testing.T) {
	e := setup(t, spool.Limits{SegmentBytes: 1}) // a segment per record
	for _, m := range []outbound.Message{message(1), message(2)} {
		if err := e.sp.Append(m); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(e.spoolDir, "seg-*.log"))
	if len(segs) < 2 {
		t.Fatalf("segments %v", segs)
	}
	first := segs[0]
	if err := os.Rename(first, first+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(first, 0o700); err != nil {
		t.Fatal(err)
	}
	errs := drain(t, e)
	waitUntil(t, "the drainer to fail reading the head twice", func() bool { return errs("unreadable") >= 2 })
	if e.sp.Len() != 2 || len(stored(t, e)) != 0 || errs("damaged") != 0 {
		t.Fatalf("while unreadable: spool %d, stream %d, damaged %d; want both kept, none published", e.sp.Len(), len(stored(t, e)), errs("damaged"))
	}
	if err := os.Remove(first); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(first+".away", first); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the spool to drain", func() bool { return e.sp.Len() == 0 })
	if n := len(stored(t, e)); n != 2 {
		t.Fatalf("stream holds %d events, want both", n)
	}
}

// A record its checksum proves damaged is copied aside, with its bytes,
// and what is behind it flows.
func TestDrainerSetsAsideADamagedRecordWithItsBytes(t *testing.T) {
	e := setup(t, spool.Limits{SegmentBytes: 1})
	for _, m := range []outbound.Message{message(1), message(2)} {
		if err := e.sp.Append(m); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(e.spoolDir, "seg-*.log"))
	raw, err := os.ReadFile(segs[0])
	if err != nil || len(raw) < 20 {
		t.Fatalf("%s: %v", segs[0], err)
	}
	raw[len(raw)-3] ^= 0xff // inside the body: the checksum no longer matches
	if err := os.WriteFile(segs[0], raw, 0o640); err != nil {
		t.Fatal(err)
	}
	errs := drain(t, e)
	waitUntil(t, "the spool to drain", func() bool { return e.sp.Len() == 0 })
	if errs("damaged") != 1 || len(stored(t, e)) != 1 {
		t.Fatalf("damaged %d, stream %d; want one set aside and one published", errs("damaged"), len(stored(t, e)))
	}
	saved, _ := filepath.Glob(filepath.Join(e.spoolDir, "seg-*.damaged"))
	if len(saved) != 1 {
		t.Fatalf("copies %v, want one", saved)
	}
	if got, _ := os.ReadFile(saved[0]); !bytes.Equal(got, raw) {
		t.Errorf("the copy holds %d bytes, not the record's %d", len(got), len(raw))
	}
}

// While the stream has no leader (here: it does not exist for a moment, as
// during an election), Deliver keeps trying within its timeout instead of
// spooling at the first refusal.
func TestLeaderlessWindowIsBridgedWithoutSpooling(t *testing.T) {
	e := setup(t, spool.Limits{})
	e.d = deliver.New(e.pub, e.sp, nil, 5*time.Second, nil)
	_, js := e.srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := js.Stream(ctx, "VOCALS")
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, "VOCALS"); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		if _, err := js.CreateStream(ctx, cfg.CachedInfo().Config); err != nil {
			t.Error(err)
		}
	}()
	r := deliverOK(t, e.d, message(1), deliver.Published)
	if r.Published < 250*time.Millisecond {
		t.Errorf("published after %s: the stream was not missing long enough to test anything", r.Published)
	}
	if e.sp.Len() != 0 {
		t.Error("spooled although the stream came back within the timeout")
	}
}
