package deliver

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/backoff"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/spool"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
)

// DrainHooks let the caller count what the drainer does.
type DrainHooks struct {
	Drained func()
	Error   func(reason string) // "unavailable", "rejected", "no_stream", "damaged", "unreadable"
}

// Drainer republishes spooled events, oldest first, with their original
// ids, and removes each only after JetStream acknowledged it (a duplicate
// counts: the stream has the event).
type Drainer struct {
	Spool     *spool.Spool
	Publisher publish.Publisher
	Log       *zap.Logger
	Hooks     DrainHooks
	// Captures, if set, says whether the stream takes a subject: an event
	// that gets "no responders" on a subject no stream captures (its family
	// was turned off or renamed since it was spooled) is set aside instead
	// of blocking everything behind it for ever.
	Captures func(ctx context.Context, subject string) (bool, error)
	// Timeout bounds each publish; MinBackoff and MaxBackoff the wait after
	// a failed one (doubling, with jitter).
	Timeout, MinBackoff, MaxBackoff time.Duration

	failingSince atomic.Int64 // Unix nanoseconds the head first failed; 0 while flowing
}

// Stuck is how long the head of the spool has failed to go anywhere (0
// while the drain makes progress or has nothing to do), and why.
func (d *Drainer) Stuck() time.Duration {
	if since := d.failingSince.Load(); since != 0 {
		return time.Since(time.Unix(0, since))
	}
	return 0
}

// failed notes that the head did not move.
func (d *Drainer) failed() { d.failingSince.CompareAndSwap(0, time.Now().UnixNano()) }

// Run drains until ctx ends. It never drops an event: one the stream
// refuses for good, or that cannot be read back, is set aside in the spool
// directory and logged.
func (d *Drainer) Run(ctx context.Context) {
	wait := backoff.Backoff{Min: d.MinBackoff, Max: d.MaxBackoff}
	draining := false
	for {
		e, m, ok, err := d.Spool.Head()
		if !ok {
			d.failingSince.Store(0)
			if draining {
				d.Log.Info("spool drained")
				draining = false
			}
			select {
			case <-ctx.Done():
				return
			case <-d.Spool.Notify():
				continue
			}
		}
		if !draining {
			n, _, age := d.Spool.Stats()
			d.Log.Info("spooling started", zap.Int("entries", n), zap.Duration("oldest_age", age))
			draining = true
		}
		var damaged *spool.DamagedError
		switch {
		case errors.As(err, &damaged):
			d.count("damaged")
			dmg, serr := d.Spool.SetAsideDamaged(e, damaged)
			if serr != nil {
				d.failed()
				d.Log.Error("spooled event damaged; copying it failed, kept at the head", zap.String("event_id", e.ID), zap.Error(serr))
				if !wait.Sleep(ctx) {
					return
				}
				continue
			}
			d.Log.Error("spooled event damaged, set aside", zap.String("event_id", e.ID), zap.Error(err), zap.String("saved_as", dmg.SavedAs))
			continue
		case err != nil:
			// A failed open or read (EMFILE under a flood, EIO) proves
			// nothing about the record: it stays, and is read again.
			d.count("unreadable")
			d.failed()
			d.Log.Warn("spooled event unreadable for now; retrying", zap.String("event_id", e.ID), zap.Error(err))
			if !wait.Sleep(ctx) {
				return
			}
			continue
		}

		// The drain continues the trace the callback started.
		m.Trace = outbound.TraceOf(m.Body)
		sctx, span := tracing.Start(m.Trace.Into(ctx), "drain")
		pctx, cancel := context.WithTimeout(sctx, d.Timeout)
		_, pspan := StartPublish(pctx, m)
		_, err = d.Publisher.Publish(pctx, m)
		cancel()
		tracing.End(pspan, err)
		tracing.End(span, err)
		switch {
		case err == nil:
			d.failingSince.Store(0)
			if rerr := d.Spool.Remove(e); rerr != nil {
				d.Log.Error("spool remove", zap.Error(rerr))
			}
			if d.Hooks.Drained != nil {
				d.Hooks.Drained()
			}
			wait.Reset()
			continue
		case errors.Is(err, publish.ErrRejected):
			d.setAside(ctx, &wait, e, m, "rejected", "stream refused a spooled event; kept in rejected.log", err)
			continue
		case d.noStream(ctx, err, m.Subject):
			d.setAside(ctx, &wait, e, m, "no_stream", "no stream takes a spooled event's subject (its family was turned off or renamed); kept in rejected.log", err)
			continue
		}
		d.failed()
		if ctx.Err() != nil {
			return
		}
		d.count("unavailable")
		d.Log.Debug("spool drain publish failed", zap.String("event_id", m.ID), zap.Error(err))
		wait.Sleep(ctx)
	}
}

// noStream reports whether err is "no responders" on a subject that the
// stream, asked afresh, does not capture.
func (d *Drainer) noStream(ctx context.Context, err error, subject string) bool {
	if d.Captures == nil || !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, jetstream.ErrNoStreamResponse) {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	captured, cerr := d.Captures(cctx, subject)
	return cerr == nil && !captured
}

// setAside moves the head to rejected.log, counted and logged; if that
// fails it stays at the head and the drain backs off.
func (d *Drainer) setAside(ctx context.Context, wait *backoff.Backoff, e spool.Entry, m outbound.Message, reason, msg string, err error) {
	d.Log.Error(msg, zap.String("event_id", m.ID), zap.String("subject", m.Subject), zap.Error(err))
	d.count(reason)
	if serr := d.Spool.SetAside(e, m); serr != nil {
		d.failed()
		d.Log.Error("spool set aside", zap.Error(serr))
		wait.Sleep(ctx)
		return
	}
	d.failingSince.Store(0)
}

func (d *Drainer) count(reason string) {
	if d.Hooks.Error != nil {
		d.Hooks.Error(reason)
	}
}
