package consumer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// ErrNotArchived means an archived event's object was not kept (its
// Status is failed): its Reason says why.
var ErrNotArchived = errors.New("consumer: the file was not archived")

// Fetch opens a file an archived event lists, from the bucket the event
// names (data.Bucket). The object's digest must be the event's SHA-256,
// and reading it to the end checks the bytes against it: a reader that
// ends in an error has not delivered the file. Close the result.
func Fetch(ctx context.Context, js jetstream.JetStream, data event.ArchivedV1, obj event.ArchivedObjectV1) (jetstream.ObjectResult, error) {
	if obj.Status != event.ObjectArchived {
		return nil, fmt.Errorf("%w: %s", ErrNotArchived, obj.Reason)
	}
	sum, err := hex.DecodeString(obj.SHA256)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("consumer: sha256 %q is not a SHA-256", obj.SHA256)
	}
	store, err := js.ObjectStore(ctx, data.Bucket)
	if err != nil {
		return nil, fmt.Errorf("consumer: bucket %s: %w", data.Bucket, err)
	}
	r, err := store.Get(ctx, obj.Name)
	if err != nil {
		return nil, fmt.Errorf("consumer: %s: %w", obj.Name, err)
	}
	info, err := r.Info()
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("consumer: %s: %w", obj.Name, err)
	}
	if info.Digest != "SHA-256="+base64.URLEncoding.EncodeToString(sum) {
		_ = r.Close()
		return nil, fmt.Errorf("consumer: %s is not the object the event names (digest %s)", obj.Name, info.Digest)
	}
	return r, nil
}
