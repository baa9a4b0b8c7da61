package archive

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
