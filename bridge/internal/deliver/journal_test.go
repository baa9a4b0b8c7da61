package deliver_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/spool"
)

// withJournal gives e's deliverer a journal with a short horizon.
func withJournal(t *testing.T, e *env) *deliver.Journal {
	t.Helper()
	log, _, err := spool.Open(filepath.Join(t.TempDir(), "journal"), spool.Limits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	j := &deliver.Journal{Log: log, Spool: e.sp, Horizon: 200 * time.Millisecond, Stale: 300 * time.Millisecond, Logger: zaptest.NewLogger(t)}
	e.d = deliver.New(e.pub, e.sp, j, time.Second, e.pub.MaxEvent)
	return j
}

// An event delivered with a journal is recorded there until it is past
// the server's sync, then dropped; the answer still says published or
// duplicate; nothing goes to the spool.
func TestJournalKeepsAnEventUntilTheServerSynced(t *testing.T) {
	e := setup(t, spool.Limits{})
	j := withJournal(t, e)
	deliverOK(t, e.d, message(1), deliver.Published)
	deliverOK(t, e.d, message(1), deliver.Duplicate)
	if n := j.Log.Len(); n != 1 {
		t.Fatalf("the journal holds %d records, want the event once", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { j.Run(ctx); close(done) }()
	eventually(t, "the record to go after the horizon", func() bool { return j.Log.Len() == 0 })
	cancel()
	<-done
	if n := e.sp.Len(); n != 0 {
		t.Errorf("the spool holds %d events, want none", n)
	}
}

// A record whose delivery never said where the event went (the process
// died, or the answer failed after the append), and every record found at
// start-up, is handed to the spool, whose drainer publishes it.
func TestJournalHandsOverWhatNoDeliveryClaimed(t *testing.T) {
	e := setup(t, spool.Limits{})
	j := withJournal(t, e)
	if err := j.Log.Append(message(2)); err != nil { // appended, never delivered
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go j.Run(ctx)
	eventually(t, "the stale record to reach the spool", func() bool { return j.Log.Len() == 0 && e.sp.Contains(message(2).ID) })

	cancel()
	// At start-up every record goes, however young: no delivery of this
	// process claimed it.
	j2 := withJournal(t, e)
	if err := j2.Log.Append(message(4)); err != nil {
		t.Fatal(err)
	}
	n, err := j2.HandOver(context.Background())
	if err != nil || n != 1 || !e.sp.Contains(message(4).ID) {
		t.Fatalf("hand-over moved %d (%v), spool has message 4: %t", n, err, e.sp.Contains(message(4).ID))
	}
}

// eventually polls cond every 10 ms for at most 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A journal write that fails is no 200, even though the server took the
// event: the server has not fsynced it. The provider's retry then finds it
// a duplicate and journals it.
func TestJournalWriteFailureIsNotAnAnswer(t *testing.T) {
	e := setup(t, spool.Limits{})
	j := withJournal(t, e)
	if err := j.Log.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.Deliver(context.Background(), message(5)); err == nil {
		t.Fatal("delivered without a journal record")
	}
	if n := len(natstest.Messages(t, e.pub.JS(), "VOCALS", ">")); n != 1 {
		t.Fatalf("the stream holds %d events, want the one the server took", n)
	}
	withJournal(t, e)
	deliverOK(t, e.d, message(5), deliver.Duplicate)
}
