// Package submit is how the bridge learns which tasks are in flight: a
// proxy for the provider's submit endpoints that fills in the bridge's
// callBackUrl, and a NATS subject on which services announce task ids they
// submitted themselves. Both end in Tracker.Track.
package submit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/track"
)

// ErrInvalidTaskID is returned for an id that cannot be a subject token.
var ErrInvalidTaskID = errors.New("submit: invalid task id")

// Tracker starts tracking tasks.
type Tracker struct {
	store     *track.Store
	builder   *cloudevent.Builder
	sink      deliver.Sink
	pollAfter time.Duration
	families  map[event.Family]bool
	// Started, if set, is called for every task newly tracked.
	Started func(via event.Via)
}

// NewTracker returns a Tracker of the tasks of families whose tasks are
// first polled pollAfter after they are tracked.
func NewTracker(store *track.Store, builder *cloudevent.Builder, sink deliver.Sink, pollAfter time.Duration, families []event.Family) *Tracker {
	t := &Tracker{store: store, builder: builder, sink: sink, pollAfter: pollAfter, families: map[event.Family]bool{}}
	for _, f := range families {
		t.families[f] = true
	}
	return t
}

// Enabled reports whether the tracker takes tasks of family f.
func (t *Tracker) Enabled(f event.Family) bool { return t.families[f] }

// Track records the submitted event (in the stream or the spool) and then
// the task in the bucket. Tracking a task twice is harmless: the event id
// and the key are the task's, so the second time changes nothing and
// created is false. request is the submitted request, or nil.
func (t *Tracker) Track(ctx context.Context, fam event.Family, taskID string, via event.Via, request []byte) (created bool, err error) {
	if !event.ValidTaskID(taskID) {
		return false, fmt.Errorf("%w: %q", ErrInvalidTaskID, taskID)
	}
	if t.store.Tracked(string(fam), taskID) {
		return false, nil
	}
	msg, err := t.builder.Submitted(tracing.From(ctx), fam, taskID, via, request)
	if err != nil {
		return false, err
	}
	if _, err := t.sink.Deliver(ctx, msg); err != nil {
		return false, fmt.Errorf("submit: recording the submitted event: %w", err)
	}
	now := time.Now().UTC()
	created, err = t.store.Add(ctx, track.Task{
		TaskID: taskID, Family: string(fam), Via: string(via), TrackedAt: now, NextPoll: now.Add(t.pollAfter),
	})
	if created && t.Started != nil {
		t.Started(via)
	}
	return created, err
}
