package consumer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

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
	if sum, err := DigestHex(info.Digest); err != nil || sum != obj.SHA256 {
		_ = r.Close()
		return nil, fmt.Errorf("consumer: %s is not the object the event names (digest %s)", obj.Name, info.Digest)
	}
	return r, nil
}

// DigestHex is the hex SHA-256 of an Object Store digest
// ("SHA-256=<base64url>"), as an archived event's sha256 holds it.
func DigestHex(digest string) (string, error) {
	b64, ok := strings.CutPrefix(digest, "SHA-256=")
	if !ok {
		return "", fmt.Errorf("consumer: digest %q is not SHA-256", digest)
	}
	sum, err := base64.URLEncoding.DecodeString(b64)
	if err != nil || len(sum) != sha256.Size {
		return "", fmt.Errorf("consumer: digest %q is not SHA-256", digest)
	}
	return hex.EncodeToString(sum), nil
}
