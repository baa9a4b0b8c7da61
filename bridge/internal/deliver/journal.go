package deliver

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/spool"
)

// Journal is the durability point of the embedded mode: every event is
// appended to a group-committed log (a spool of its own, so concurrent
// callbacks share fsyncs) while the embedded server, which fsyncs on a
// timer instead of per message, acknowledges it. A record is dropped once
// the event is durable elsewhere: in the spool, or in the server's store
// after a sync has passed it (Horizon after its acknowledgement). Records
// found at start-up are handed to the spool, whose drainer publishes them
// again; the stream keeps each event once.
type Journal struct {
	Log   *spool.Spool
	Spool *spool.Spool
	// Horizon is how long after an acknowledgement the server has surely
	// fsynced the event: more than its sync interval, with room to spare.
	Horizon time.Duration
	// Stale is when a record whose delivery has not said where the event
	// went (its request failed after the append) is handed to the spool.
	Stale  time.Duration
	Logger *zap.Logger

	mu      sync.Mutex
	durable map[string]time.Time // id -> when the event is durable elsewhere
}

// done records that the event id is durable elsewhere from at on.
func (j *Journal) done(id string, at time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.durable == nil {
		j.durable = map[string]time.Time{}
	}
	j.durable[id] = at
}

// HandOver empties the log: records of events in the stream past a server
// sync are dropped, the others moved to the spool. At start-up (before the
// listeners open) for what a crash left, and at shutdown once the embedded
// server stopped (it does not fsync its store when it stops).
func (j *Journal) HandOver(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		moved, err := j.trimHead(time.Now(), true)
		if err != nil || !moved {
			return n, err
		}
		n++
	}
	return n, ctx.Err()
}

// Run drops the records at the head of the log as they become durable
// elsewhere, until ctx ends.
func (j *Journal) Run(ctx context.Context) {
	for {
		moved, err := j.trimHead(time.Now(), false)
		if err != nil {
			j.Logger.Warn("journal", zap.Error(err))
		}
		if moved {
			continue
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// trimHead drops the head record when it may go, handing it to the spool
// first when nothing else holds the event; all: every record now.
func (j *Journal) trimHead(now time.Time, all bool) (bool, error) {
	e, ok := j.Log.First()
	if !ok {
		return false, nil
	}
	j.mu.Lock()
	at, known := j.durable[e.ID]
	j.mu.Unlock()
	switch {
	case known && !now.Before(at): // in the stream, past a server sync
	case !all && known: // wait for the sync
		return false, nil
	case !all && now.Sub(e.Queued) < j.Stale: // its delivery is still under way
		return false, nil
	default: // nothing else is sure to hold the event: read it for the spool
		var damaged *spool.DamagedError
		e2, m, _, err := j.Log.Head()
		switch {
		case errors.As(err, &damaged):
			_, err := j.Log.SetAsideDamaged(e2, damaged)
			return err == nil, err
		case err != nil:
			return false, err
		}
		if err := j.Spool.Append(m); err != nil && !errors.Is(err, spool.ErrAlreadySpooled) {
			return false, err
		}
	}
	if err := j.Log.Remove(e); err != nil {
		return false, err
	}
	j.mu.Lock()
	delete(j.durable, e.ID)
	j.mu.Unlock()
	return true, nil
}
