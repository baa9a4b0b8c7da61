// Package deliver decides where a built event goes: straight to JetStream,
// or into the local spool when JetStream cannot acknowledge it in time, and
// drains the spool back into the stream. Either way a nil error means the
// event is durably recorded.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"time"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/backoff"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/spool"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
)

// Outcome says where an event ended up.
type Outcome string

// Outcomes of Deliver.
const (
	Published Outcome = "published" // JetStream stored it now
	Duplicate Outcome = "duplicate" // JetStream or the spool already had it
	Spooled   Outcome = "spooled"   // fsynced to the spool; the drainer will publish it
)

// Result of a delivery.
type Result struct {
	Outcome Outcome
	// Spooled is true when the event waits in the spool (also for a
	// duplicate of a spooled event).
	Spooled bool
	// Published is how long the JetStream publish took, 0 if none was tried.
	Published time.Duration
	// PublishErr is the JetStream error that sent the event to the spool.
	PublishErr error
}

// Sink records built events durably; *Deliverer is the real one. The
// callback handler, the submit tracker and the reconciler all deliver
// through it.
type Sink interface {
	Deliver(ctx context.Context, m outbound.Message) (Result, error)
}

// ErrSpoolFull means JetStream was unavailable and the spool at its limits.
var ErrSpoolFull = spool.ErrFull

// Deliverer publishes events, falling back to a spool. It is safe for
// concurrent use.
type Deliverer struct {
	pub      publish.Publisher
	sp       *spool.Spool // nil: no spool, publish failures are returned
	journal  *Journal     // nil: JetStream's acknowledgement is the durability point
	timeout  time.Duration
	maxEvent func() int64 // nil: no limit
}

// ErrEventTooLarge means the event is larger than the stream can ever
// take: it is refused before anything is published or spooled, since a
// 200 for it could never be kept.
var ErrEventTooLarge = errors.New("event is larger than the stream accepts")

// New returns a Deliverer. sp may be nil to disable spooling; j, when not
// nil, is where each published event is fsynced (the embedded mode, whose
// server does not fsync each message); timeout bounds each publish;
// maxEvent (may be nil) tells the largest event body the stream takes
// (publish.JetStream.MaxEvent).
func New(pub publish.Publisher, sp *spool.Spool, j *Journal, timeout time.Duration, maxEvent func() int64) *Deliverer {
	return &Deliverer{pub: pub, sp: sp, journal: j, timeout: timeout, maxEvent: maxEvent}
}

// Deliver records m. A nil error means JetStream acknowledged it, or it is
// fsynced to the spool. While the spool holds a backlog, new events join it
// instead of overtaking it, so the stream receives events in arrival order.
// Errors wrap ErrEventTooLarge (nothing was tried), publish.ErrUnavailable
// or publish.ErrRejected (no spool, or rejected), spool.ErrFull, or a spool
// write error.
func (d *Deliverer) Deliver(ctx context.Context, m outbound.Message) (Result, error) {
	if d.maxEvent != nil {
		if limit := d.maxEvent(); int64(len(m.Body)) > limit {
			return Result{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrEventTooLarge, len(m.Body), limit)
		}
	}
	if d.sp != nil {
		if d.sp.Contains(m.ID) {
			return Result{Outcome: Duplicate, Spooled: true}, nil
		}
		if d.sp.Len() > 0 {
			return d.spool(ctx, m, Result{})
		}
	}
	// With a journal the event is fsynced there while JetStream takes it,
	// and the answer waits for both.
	var journaled chan error
	if d.journal != nil {
		journaled = make(chan error, 1)
		go func() { journaled <- d.journal.Log.Append(m) }()
	}
	start := time.Now()
	res, err := d.publish(ctx, m)
	r := Result{Published: time.Since(start)}
	if journaled != nil {
		if jerr := <-journaled; jerr != nil && !errors.Is(jerr, spool.ErrAlreadySpooled) {
			// JetStream has not fsynced it: not durable, so not a 200.
			// The provider's retry is journaled or finds it spooled.
			return r, fmt.Errorf("deliver: journal: %w", jerr)
		}
	}
	switch {
	case err == nil && res.Duplicate:
		r.Outcome = Duplicate
		d.durable(m, time.Now().Add(d.horizon()))
		return r, nil
	case err == nil:
		r.Outcome = Published
		d.durable(m, time.Now().Add(d.horizon()))
		return r, nil
	case d.sp == nil || !errors.Is(err, publish.ErrUnavailable):
		d.durable(m, time.Now()) // refused: nothing to keep
		return r, err
	}
	r.PublishErr = err
	r, err = d.spool(ctx, m, r)
	if err == nil {
		d.durable(m, time.Now())
	}
	return r, err
}

// durable tells the journal, if any, when m no longer needs its record.
func (d *Deliverer) durable(m outbound.Message, at time.Time) {
	if d.journal != nil {
		d.journal.done(m.ID, at)
	}
}

func (d *Deliverer) horizon() time.Duration {
	if d.journal == nil {
		return 0
	}
	return d.journal.Horizon
}

// publish tries until the timeout while the stream is leaderless (an
// election takes a few seconds in a cluster, longer than the client's own
// retries), and once for any other failure: a disconnected client fails at
// once, and that event belongs in the spool without waiting.
func (d *Deliverer) publish(ctx context.Context, m outbound.Message) (res publish.Result, err error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	_, span := StartPublish(ctx, m)
	defer func() { tracing.End(span, err) }()
	wait := backoff.Backoff{Min: 25 * time.Millisecond, Max: 500 * time.Millisecond}
	for {
		res, err = d.pub.Publish(ctx, m)
		if err == nil || !errors.Is(err, publish.ErrRetrySoon) || !wait.Sleep(ctx) {
			return res, err
		}
	}
}

// StartPublish starts the producer span of publishing m (messaging
// conventions: system nats, the subject, the message id).
func StartPublish(ctx context.Context, m outbound.Message) (context.Context, trace.Span) {
	ctx, span := tracing.Start(ctx, "publish", trace.WithSpanKind(trace.SpanKindProducer))
	if span.IsRecording() {
		span.SetAttributes(tracing.MessagingNATS, semconv.MessagingOperationTypeSend, semconv.MessagingDestinationName(m.Subject),
			semconv.MessagingMessageID(m.ID), tracing.TaskID.String(m.TaskID), tracing.Stage.String(string(m.Stage)))
	}
	return ctx, span
}

func (d *Deliverer) spool(ctx context.Context, m outbound.Message, r Result) (_ Result, err error) {
	_, span := tracing.Start(ctx, "spool append")
	defer func() { tracing.End(span, err) }()
	err = d.sp.Append(m)
	switch {
	case errors.Is(err, spool.ErrAlreadySpooled):
		r.Outcome, r.Spooled = Duplicate, true
		return r, nil
	case err != nil:
		return r, fmt.Errorf("deliver: %w", err)
	}
	r.Outcome, r.Spooled = Spooled, true
	return r, nil
}
