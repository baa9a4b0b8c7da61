package archive

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
)

// The chunks of an upload cut off are removed once they are old enough;
// an object's chunks, and a recent upload's, are not.
func TestSweep(t *testing.T) {
	_, js := natstest.Start(t).Connect(t)
	ctx := context.Background()
	store, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "MEDIA"})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("kept "), 100_000)
	if _, err := store.PutBytes(ctx, "vocals/t1/a/audio", body); err != nil {
		t.Fatal(err)
	}
	for _, nuid := range []string{"CUT1", "CUT2"} { // what a killed Put leaves
		if _, err := js.Publish(ctx, "$O.MEDIA.C."+nuid, []byte("partial")); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := sweep(ctx, js, store, "MEDIA", time.Hour, time.Now()); err != nil || n != 0 {
		t.Fatalf("a recent upload was swept: %d, %v", n, err)
	}
	if n, err := sweep(ctx, js, store, "MEDIA", time.Hour, time.Now().Add(2*time.Hour)); err != nil || n != 2 {
		t.Fatalf("swept %d uploads, want 2: %v", n, err)
	}
	st, err := js.Stream(ctx, "OBJ_MEDIA")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("$O.MEDIA.C.>"))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.State.Subjects) != 1 {
		t.Errorf("chunk subjects left: %v", info.State.Subjects)
	}
	if got, err := store.GetBytes(ctx, "vocals/t1/a/audio"); err != nil || !bytes.Equal(got, body) {
		t.Errorf("the object after the sweep: %v (%d bytes)", err, len(got))
	}
}

// The archiver sweeps first after the given delay, then every period,
// until its context ends: a cut upload left before the first sweep and
// one left after it are both removed.
func TestSweepEvery(t *testing.T) {
	_, js := natstest.Start(t).Connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "MEDIA"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "OBJ_MEDIA")
	if err != nil {
		t.Fatal(err)
	}
	cutAndWaitSwept := func(nuid string) {
		t.Helper()
		if _, err := js.Publish(ctx, "$O.MEDIA.C."+nuid, []byte("partial")); err != nil {
			t.Fatal(err)
		}
		for range 500 { // up to 10 s
			info, err := st.Info(ctx, jetstream.WithSubjectFilter("$O.MEDIA.C.>"))
			if err != nil {
				t.Fatal(err)
			}
			if len(info.State.Subjects) == 0 {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("the chunks of cut upload %s were never swept", nuid)
	}
	a := &Archiver{cfg: Config{Bucket: "MEDIA", Timeout: time.Second}, js: js, log: zaptest.NewLogger(t),
		now: func() time.Time { return time.Now().Add(time.Hour) }} // every chunk looks old
	done := make(chan struct{})
	go func() { defer close(done); a.sweepEvery(ctx, store, 0, 50*time.Millisecond) }()
	cutAndWaitSwept("CUT1")
	cutAndWaitSwept("CUT2")
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("sweepEvery did not return when its context ended")
	}
}
