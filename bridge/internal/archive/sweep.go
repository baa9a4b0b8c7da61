package archive

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// sweep removes the chunks of uploads that never finished (a replica
// killed mid-download leaves them, never visible, in the bucket's stream):
// chunk subjects that no object names and nothing has written to for
// minAge. An upload in progress writes a chunk at least every
// archive_timeout, so with minAge above that it is never touched. It
// returns how many uploads it removed.
func sweep(ctx context.Context, js jetstream.JetStream, store jetstream.ObjectStore, bucket string, minAge time.Duration, now time.Time) (int, error) {
	st, err := js.Stream(ctx, "OBJ_"+bucket)
	if err != nil {
		return 0, err
	}
	prefix := "$O." + bucket + ".C."
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return 0, err
	}
	if len(info.State.Subjects) == 0 {
		return 0, nil
	}
	objects, err := store.List(ctx, jetstream.ListObjectsShowDeleted())
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, err
	}
	named := make(map[string]bool, len(objects))
	for _, o := range objects {
		named[o.NUID] = true
	}
	removed := 0
	for subject := range info.State.Subjects {
		if named[strings.TrimPrefix(subject, prefix)] {
			continue
		}
		last, err := st.GetLastMsgForSubject(ctx, subject)
		if err != nil || now.Sub(last.Time) < minAge {
			continue
		}
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
			return removed, fmt.Errorf("purging %s: %w", subject, err)
		}
		removed++
	}
	return removed, nil
}
