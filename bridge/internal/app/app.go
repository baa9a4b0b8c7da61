// Package app composes the bridge from its configuration and runs it: the
// spool, NATS (embedded or external) and the streams, the dead-letter
// writer, the callback pipeline, and the public, admin and submit
// listeners, with an orderly shutdown in the reverse order.
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/archive"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/config"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deadletter"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/httpapi"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/spool"
)

// App is a configured, started bridge. Close releases what New acquired
// when Run is never called.
type App struct {
	cfg     config.Config
	log     *zap.Logger
	reg     *prometheus.Registry
	metrics *metrics.Metrics

	nc *nats.Conn
	// natsServers and natsOpts connect to NATS as nc did, for the
	// archiver's connection of its own.
	natsServers []string
	natsOpts    []nats.Option
	pub         *publish.JetStream
	spool       *spool.Spool // nil when disabled
	// journal is the embedded mode's durability point (nil: JetStream's
	// own fsync is, or the mode is external).
	journal *deliver.Journal
	dlq     *deadletter.Writer // nil when disabled
	// streamsPending is set when the streams could not be set up at
	// start-up: Run sets them up once NATS answers.
	streamsPending bool
	builder        *cloudevent.Builder
	sink           *deliver.Deliverer
	drainer        atomic.Pointer[deliver.Drainer] // once the drain runs
	tracking       *tracking                       // nil unless tracking_enabled
	archiver       *archive.Archiver               // nil unless archive_enabled
	dlqSpec        deadletter.StreamSpec
	listeners      map[string]*httpapi.Listener
	stopping       atomic.Bool // SIGTERM came: readiness is 503

	version string

	closers []func() // in the order acquired; Close runs them backwards
}

// New acquires everything the bridge needs, in order, each step adding
// how to release it: the spool (whose lock refuses a second bridge on the
// data dir before anything else is touched), NATS, the dead-letter writer,
// the streams, the pipeline, and the listeners. It fails, naming the
// cause, if any step fails, and then releases what the earlier ones took.
func New(ctx context.Context, cfg config.Config, log *zap.Logger, version string) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, reg: prometheus.NewRegistry(), listeners: map[string]*httpapi.Listener{}, version: version}
	a.metrics = metrics.New(a.reg, version)
	var names []event.Family
	for _, f := range cfg.Families() {
		names = append(names, f.Name)
	}
	a.metrics.Families(names)
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("app: data dir: %w", err)
	}
	for _, step := range []func(context.Context) error{
		a.traces, a.openSpool, a.connect, a.openDeadLetters, a.setupAtStart, a.pipeline, a.listen,
	} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *App) onClose(f func()) { a.closers = append(a.closers, f) }

// Close releases what New acquired, newest first. It is safe to call more
// than once.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// Run serves until ctx ends or a listener fails, then shuts down: stop
// accepting, finish in-flight requests, stop the background work, and
// release everything.
func (a *App) Run(ctx context.Context) error {
	serving, servingCtx := errgroup.WithContext(ctx)
	for name, l := range a.listeners {
		a.log.Info("listening", zap.String("listener", name), zap.String("addr", l.Addr()))
		serving.Go(func() error {
			if err := l.Serve(); err != nil {
				return fmt.Errorf("%s listener: %w", name, err)
			}
			return nil
		})
	}
	// Background work outlives ctx until the listeners are drained, so
	// that a callback still in flight can be spooled and drained.
	bg, stopBg := context.WithCancel(context.Background())
	var background errgroup.Group
	background.Go(func() error {
		if a.streamsPending {
			a.setupStreamsLater(bg)
		}
		if a.tracking != nil { // the stream takes submitted events first
			a.runTracking(bg)
		}
		return nil
	})
	if a.archiver != nil {
		background.Go(func() error { a.archiver.Run(bg); return nil })
	}
	if a.spool != nil {
		background.Go(func() error { a.drain(bg); return nil })
	}
	if a.journal != nil {
		background.Go(func() error { a.journal.Run(bg); return nil })
	}
	a.log.Info("bridge started", zap.String("stream", a.cfg.Stream),
		zap.String("subject_prefix", a.cfg.SubjectPrefix), zap.Bool("embedded_nats", a.cfg.Embedded()))

	<-servingCtx.Done()
	if ctx.Err() != nil {
		// Readiness turns 503 at once; the listeners keep serving for
		// shutdown_delay, while load balancers take the endpoint out.
		a.stopping.Store(true)
		a.log.Info("shutting down", zap.Duration("delay", a.cfg.ShutdownDelay))
		time.Sleep(a.cfg.ShutdownDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	var shutdownErr error
	for name, l := range a.listeners {
		if err := l.Shutdown(sctx); err != nil {
			shutdownErr = errors.Join(shutdownErr, fmt.Errorf("%s listener shutdown: %w", name, err))
		}
	}
	runErr := serving.Wait()
	if runErr != nil {
		a.log.Error("listener failed, shut down", zap.Error(runErr))
	}
	stopBg()
	_ = background.Wait()
	a.Close()
	a.log.Info("stopped")
	return errors.Join(runErr, shutdownErr)
}

// ready is "ready" when the connection is up, the stream answers and
// everything enabled serves (task tracking and its submit proxy);
// "degraded" while tracking starts, while the spool drain makes no
// progress though NATS answers, or when NATS is away but the spool takes
// callbacks; else "unavailable".
func (a *App) ready(ctx context.Context) httpapi.Readiness {
	if a.stopping.Load() {
		return httpapi.Readiness{Status: httpapi.Unavailable, Reason: "shutting down"}
	}
	err := a.pub.Check(ctx)
	if d := a.drainer.Load(); err == nil && d != nil && d.Stuck() > a.stuckAfter() {
		// NATS answers, yet the spool's oldest event goes nowhere.
		return httpapi.Readiness{Status: httpapi.Degraded, Reason: fmt.Sprintf("the spool drain has made no progress for %s", d.Stuck().Round(time.Second))}
	}
	if err == nil && a.tracking != nil && !a.tracking.serving.Load() {
		// Callbacks are stored, but the submit proxy still answers 503.
		return httpapi.Readiness{Status: httpapi.Degraded, Reason: "task tracking is starting"}
	}
	if err == nil {
		return httpapi.Readiness{Status: httpapi.Ready}
	}
	reason := err.Error()
	if a.spool != nil {
		// Room for an event built from the largest body, with its envelope.
		if err := a.spool.Writable(2 * a.cfg.BodyLimit); err != nil {
			return httpapi.Readiness{Status: httpapi.Unavailable, Reason: reason + "; spool cannot take callbacks: " + err.Error()}
		}
		return httpapi.Readiness{Status: httpapi.Degraded, Reason: reason + "; spooling"}
	}
	return httpapi.Readiness{Status: httpapi.Unavailable, Reason: reason}
}

// stuckAfter is how long the drain may fail with NATS up before readiness
// says so: longer than a few publish timeouts and an election.
func (a *App) stuckAfter() time.Duration { return max(30*time.Second, 3*a.cfg.PublishTimeout) }

// waitClosed gives a draining connection up to two seconds to close.
func waitClosed(nc *nats.Conn) {
	for i := 0; i < 100 && !nc.IsClosed(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
}
