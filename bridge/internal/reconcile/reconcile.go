// Package reconcile closes the loop on callbacks that never arrive: it
// polls each tracked task that has not reached a terminal stage at its
// family's details endpoint, publishes what it learns with the ids the callbacks
// would have had (so a late callback and a poll result are one event), and
// ends tasks stuck past a deadline with a timeout event.
//
// Replicas share the task bucket. Before polling, a replica claims the poll
// by moving the task's next poll forward with a compare-and-set on its
// revision; the replica that loses the race skips the task. So each task
// is polled once per interval whatever the number of replicas.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/backoff"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/provider"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/track"
)

// Poller reads a task's state from its family's details endpoint;
// *provider.Client is the real one.
type Poller interface {
	Details(ctx context.Context, f family.Family, taskID string) (provider.Polled, error)
}

// Stream tells whether the stream holds a message on a subject;
// *publish.JetStream is the real one.
type Stream interface {
	Holds(ctx context.Context, subject string) (bool, error)
}

// Config are the reconciler's timings and limits.
type Config struct {
	Replica   string        // names this replica in the bucket
	PollAfter time.Duration // first poll this long after a task is tracked
	Interval  time.Duration // between polls of one task
	Deadline  time.Duration // tracked this long without a terminal stage: timeout
	// Deadlines overrides Deadline for the families it names.
	Deadlines  map[event.Family]time.Duration
	StuckAfter time.Duration // tracked this long: counted as stuck
	Rate       float64       // record-info requests per second from this replica
	MaxBackoff time.Duration // longest wait after failed polls
	Workers    int           // polls in flight at once
	// Enabled are the families the bridge serves (nil: all). A task of a
	// family turned off since it was tracked is no longer polled: its
	// events would have no stream to go to.
	Enabled map[event.Family]bool
}

// Hooks report what happened, for metrics. Any may be nil.
type Hooks struct {
	Polled    func(result string)             // stage, pending or error
	PollError func(reason string)             // see provider.Error.Reason; also "deliver"
	Stage     func(origin event.Origin)       // a stage newly stored for a tracked task
	Gauges    func(tracked, stuck int)        // after every tick
	Lost      func()                          // another replica claimed the poll first
	Finished  func(taskID string, how string) // tracking ended: terminal, timeout, stream, disabled
}

// Reconciler runs the polling loop.
type Reconciler struct {
	store   *track.Store
	poller  Poller
	builder *cloudevent.Builder
	sink    deliver.Sink
	stream  Stream
	cfg     Config
	log     *zap.Logger
	hooks   Hooks
	limiter *rate.Limiter

	mu          sync.Mutex
	inFlight    map[string]bool
	pausedUntil time.Time
}

// New returns a Reconciler; Run starts it.
func New(store *track.Store, poller Poller, builder *cloudevent.Builder, sink deliver.Sink, stream Stream,
	cfg Config, log *zap.Logger, hooks Hooks) *Reconciler {
	if cfg.Workers < 1 {
		cfg.Workers = 4
	}
	return &Reconciler{
		store: store, poller: poller, builder: builder, sink: sink, stream: stream,
		cfg: cfg, log: log, hooks: hooks,
		limiter:  rate.NewLimiter(rate.Limit(cfg.Rate), 1),
		inFlight: map[string]bool{},
	}
}

// Run polls due tasks until ctx ends, and waits for polls in flight.
func (r *Reconciler) Run(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-r.store.Synced():
	}
	work := make(chan track.Entry)
	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				r.handle(ctx, e)
				r.mu.Lock()
				delete(r.inFlight, e.TaskID)
				r.mu.Unlock()
			}
		}()
	}
	defer wg.Wait()
	defer close(work)

	tick := time.NewTicker(min(time.Second, r.cfg.Interval/4))
	defer tick.Stop()
	for {
		now := time.Now()
		if r.hooks.Gauges != nil {
			r.hooks.Gauges(r.store.Counts(now, r.cfg.StuckAfter))
		}
		r.dispatch(ctx, now, work)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// dispatch hands due tasks to idle workers; the rest wait for the next tick.
func (r *Reconciler) dispatch(ctx context.Context, now time.Time, work chan<- track.Entry) {
	r.mu.Lock()
	paused := now.Before(r.pausedUntil)
	r.mu.Unlock()
	if paused {
		return
	}
	for _, e := range r.store.Due(now) {
		r.mu.Lock()
		busy := r.inFlight[e.TaskID]
		if !busy {
			r.inFlight[e.TaskID] = true
		}
		r.mu.Unlock()
		if busy {
			continue
		}
		select {
		case work <- e:
		case <-ctx.Done():
			return
		default: // every worker is busy
			r.mu.Lock()
			delete(r.inFlight, e.TaskID)
			r.mu.Unlock()
			return
		}
	}
}

// handle claims one task's poll and acts on the answer.
func (r *Reconciler) handle(ctx context.Context, e track.Entry) {
	// Pace before claiming, so the claim is fresh when the poll goes out
	// and no other replica can find the task due in between.
	if err := r.limiter.Wait(ctx); err != nil {
		return
	}
	now := time.Now()
	t := e.Task
	t.NextPoll, t.Poller, t.Polls = now.Add(r.cfg.Interval), r.cfg.Replica, t.Polls+1
	claimed, err := r.store.Update(ctx, e, t)
	switch {
	case errors.Is(err, track.ErrLost):
		if r.hooks.Lost != nil {
			r.hooks.Lost()
		}
		return
	case err != nil:
		r.log.Warn("claiming a poll", zap.String("task_id", e.TaskID), zap.Error(err))
		return
	}
	fam, known := family.Get(familyOf(t))
	log := r.log.With(zap.String("family", string(fam.Name)), zap.String("task_id", t.TaskID))
	if !known {
		log.Error("tracked task of an unknown family: dropping it", zap.String("family", t.Family))
		r.end(ctx, log, t, "terminal")
		return
	}

	if r.cfg.Enabled != nil && !r.cfg.Enabled[fam.Name] {
		log.Info("tracked task of a family that is turned off: no longer tracked")
		r.end(ctx, log, t, "disabled")
		return
	}

	// A terminal callback may have arrived without this replica seeing it
	// (another bridge took it, or its Forget was dropped): no poll needed.
	if done, err := r.finished(ctx, fam.Name, t.TaskID); err == nil && done {
		r.end(ctx, log, t, "stream")
		return
	}
	expired := now.Sub(t.TrackedAt) >= r.deadline(fam.Name)
	ctx, span := tracing.Start(ctx, "poll "+string(fam.Name), trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(tracing.Family.String(string(fam.Name)), tracing.TaskID.String(t.TaskID))
	}
	defer span.End()
	info, err := r.poller.Details(ctx, fam, t.TaskID)
	if err != nil {
		r.pollFailed(ctx, log, claimed, err, expired)
		return
	}
	cb, ok := info.Callback, info.Stage
	result := "pending"
	if ok {
		result = "stage"
	}
	if r.hooks.Polled != nil {
		r.hooks.Polled(result)
	}
	if ok {
		if err := r.publish(ctx, log, cb, info.Raw, event.OriginPoll); err != nil {
			r.pollFailed(ctx, log, claimed, err, false)
			return
		}
		if cb.Stage == event.StageComplete || cb.Stage == event.StageError {
			r.end(ctx, log, t, "terminal")
			return
		}
	}
	if expired {
		r.timeout(ctx, log, fam, claimed, info.Status)
		return
	}
	if t.Status != info.Status || t.Failures != 0 {
		t.Status, t.Failures = info.Status, 0
		if _, err := r.store.Update(ctx, claimed, t); err != nil && !errors.Is(err, track.ErrLost) {
			log.Warn("recording a poll", zap.Error(err))
		}
	}
}

// publish builds and delivers a stage learned without its callback.
func (r *Reconciler) publish(ctx context.Context, log *zap.Logger, cb callback.Callback, body []byte, origin event.Origin) error {
	msg, err := r.builder.Build(cb, cloudevent.Source{Body: body, Origin: origin, Trace: tracing.From(ctx)})
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	res, err := r.sink.Deliver(ctx, msg)
	if err != nil {
		return &deliverError{err}
	}
	if res.Outcome != deliver.Duplicate && r.hooks.Stage != nil {
		r.hooks.Stage(origin)
	}
	log.Info("stage reconciled", zap.String("stage", string(cb.Stage)), zap.String("origin", string(origin)),
		zap.String("event_id", msg.ID), zap.String("outcome", string(res.Outcome)))
	return nil
}

type deliverError struct{ err error }

func (e *deliverError) Error() string { return "reconcile: delivering: " + e.err.Error() }
func (e *deliverError) Unwrap() error { return e.err }

// pollFailed backs the task off (or ends it when past its deadline) and,
// when the provider asked to slow down, pauses every poll of this replica.
func (r *Reconciler) pollFailed(ctx context.Context, log *zap.Logger, claimed track.Entry, err error, expired bool) {
	reason := "deliver"
	var pe *provider.Error
	if errors.As(err, &pe) {
		reason = pe.Reason()
		if pe.RateLimited() {
			pause := pe.RetryAfter
			if pause <= 0 {
				pause = r.cfg.Interval
			}
			r.mu.Lock()
			r.pausedUntil = time.Now().Add(pause)
			r.mu.Unlock()
			log.Warn("provider asked to slow down: pausing this replica's polls", zap.Duration("pause", pause))
		}
	}
	if r.hooks.PollError != nil {
		r.hooks.PollError(reason)
	}
	if expired {
		if fam, ok := family.Get(familyOf(claimed.Task)); ok {
			r.timeout(ctx, log, fam, claimed, claimed.Status)
		}
		return
	}
	t := claimed.Task
	t.Failures++
	wait := r.backoff(t.Failures)
	t.NextPoll = time.Now().Add(wait)
	log.Warn("poll failed; backing off", zap.String("reason", reason), zap.Int("failures", t.Failures),
		zap.Duration("next_in", wait), zap.Error(err))
	if _, err := r.store.Update(ctx, claimed, t); err != nil && !errors.Is(err, track.ErrLost) {
		log.Warn("recording a failed poll", zap.Error(err))
	}
}

// backoff is the wait after failures consecutive failed polls: the
// interval doubled per failure up to MaxBackoff, jittered so replicas and
// tasks spread out.
func (r *Reconciler) backoff(failures int) time.Duration {
	return backoff.Backoff{Min: r.cfg.Interval, Max: r.cfg.MaxBackoff}.Nth(failures)
}

// finished reports whether the stream holds a terminal stage (complete,
// error or timeout) of the task already: its callback went to another
// replica, or another replica timed it out.
func (r *Reconciler) finished(ctx context.Context, fam event.Family, taskID string) (bool, error) {
	for _, st := range []event.Stage{event.StageComplete, event.StageError, event.StageTimeout} {
		if ok, err := r.stream.Holds(ctx, event.Subject(r.builder.Prefix(fam), taskID, st)); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

// timeout ends a task past its deadline with a timeout event.
func (r *Reconciler) timeout(ctx context.Context, log *zap.Logger, fam family.Family, claimed track.Entry, status string) {
	if status == "" {
		status = "unknown"
	}
	cb, err := fam.Callback(claimed.TaskID, TimeoutCode,
		fmt.Sprintf("timeout: no terminal stage within %s of tracking the task (last record-info status: %s)",
			r.deadline(fam.Name), status), nil)
	if err == nil {
		err = r.publish(ctx, log, cb, nil, event.OriginTimeout)
	}
	if err != nil {
		log.Error("publishing a timeout; retrying at the next poll", zap.Error(err))
		return
	}
	log.Warn("task timed out", zap.Duration("deadline", r.deadline(fam.Name)), zap.String("last_status", status))
	r.end(ctx, log, claimed.Task, "timeout")
}

// deadline is how long a task of family f may go without a terminal stage.
func (r *Reconciler) deadline(f event.Family) time.Duration {
	if d, ok := r.cfg.Deadlines[f]; ok {
		return d
	}
	return r.cfg.Deadline
}

// familyOf is a tracked task's family; tasks tracked before there were
// families are add-vocals'.
func familyOf(t track.Task) event.Family {
	if t.Family == "" {
		return event.FamilyVocals
	}
	return event.Family(t.Family)
}

// TimeoutCode is the code in a timeout event's data: the provider's own
// "rate limited / timeout" code. The event's origin attribute is timeout.
const TimeoutCode = 408

func (r *Reconciler) end(ctx context.Context, log *zap.Logger, t track.Task, how string) {
	if err := r.store.Remove(ctx, t.Family, t.TaskID); err != nil {
		log.Warn("removing a finished task", zap.Error(err))
		return
	}
	if r.hooks.Finished != nil {
		r.hooks.Finished(t.TaskID, how)
	}
}
