package consumer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
)

func TestFetch(t *testing.T) {
	_, js := natstest.Start(t).Connect(t)
	ctx := context.Background()
	store, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: event.MediaBucket})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("music "), 100_000) // several chunks
	if _, err := store.PutBytes(ctx, "vocals/t1/a/audio", body); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	data := event.ArchivedV1{TaskID: "t1", Bucket: event.MediaBucket}
	kept := event.ArchivedObjectV1{Status: event.ObjectArchived, Name: "vocals/t1/a/audio", SHA256: hex.EncodeToString(sum[:])}
	for _, tt := range []struct {
		name string
		obj  func(o event.ArchivedObjectV1) event.ArchivedObjectV1
		ok   bool
	}{
		{"kept", func(o event.ArchivedObjectV1) event.ArchivedObjectV1 { return o }, true},
		{"not kept", func(o event.ArchivedObjectV1) event.ArchivedObjectV1 {
			o.Status, o.Reason = event.ObjectFailed, "too_large"
			return o
		}, false},
		{"another digest", func(o event.ArchivedObjectV1) event.ArchivedObjectV1 {
			o.SHA256 = hex.EncodeToString(make([]byte, 32))
			return o
		}, false},
		{"no such object", func(o event.ArchivedObjectV1) event.ArchivedObjectV1 {
			o.Name = "vocals/t1/b/audio"
			return o
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := consumer.Fetch(ctx, js, data, tt.obj(kept))
			if !tt.ok {
				if err == nil {
					_ = r.Close()
					t.Fatal("fetched")
				}
				if tt.name == "not kept" && !errors.Is(err, consumer.ErrNotArchived) {
					t.Errorf("error %v, want ErrNotArchived", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
		})
	}
}
