package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/backoff"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/provider"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/reconcile"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/submit"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/track"
)

// tracking is the part of the bridge that follows tasks to a terminal
// stage. Its store and proxy appear once NATS answers; until then the
// callback path ignores it and the submit proxy answers 503.
type tracking struct {
	provider *provider.Client
	store    atomic.Pointer[track.Store]
	proxy    atomic.Pointer[submit.Proxy]
	// serving is set once the store, the proxy and the announcement
	// subscription (those enabled) are all up: readiness waits for it.
	serving atomic.Bool
	m       *metrics.Metrics
}

// Observe implements httpapi.TaskObserver: a terminal callback ends the
// tracking of its family's task (another family's task of the same id is
// another task).
func (t *tracking) Observe(fam event.Family, taskID string, stage event.Stage, stored bool) {
	st := t.store.Load()
	if st == nil || !st.Tracked(string(fam), taskID) {
		return
	}
	if stored {
		t.m.TrackingStages.WithLabelValues(string(event.OriginCallback)).Inc()
	}
	if (stage == event.StageComplete || stage == event.StageError) && st.Forget(string(fam), taskID) {
		t.m.TrackingEnded.WithLabelValues("callback").Inc()
	}
}

// handler is the submit proxy, or nil while tracking starts.
func (t *tracking) handler() http.Handler {
	if p := t.proxy.Load(); p != nil {
		return p
	}
	return nil
}

// runTracking opens the task bucket (retrying while NATS is away), then
// serves announcements and reconciles until ctx ends.
func (a *App) runTracking(ctx context.Context) {
	cfg, m := a.cfg, a.metrics
	log := a.log.Named("tracking")
	var store *track.Store
	wait := backoff.Backoff{Min: time.Second, Max: 30 * time.Second}
	for {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var err error
		store, err = track.Open(sctx, a.pub.JS(), track.BucketSpec{
			Name: cfg.TrackingBucket, Replicas: cfg.StreamReplicas, TTL: max(2*cfg.TrackingDeadline, 24*time.Hour),
		}, log)
		cancel()
		if err == nil {
			break
		}
		log.Warn("opening the task bucket; retrying", zap.Error(err))
		if !wait.Sleep(ctx) {
			return
		}
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		store.Run(ctx)
	}()

	var names []event.Family
	enabled := map[event.Family]bool{}
	for _, f := range cfg.Families() {
		names = append(names, f.Name)
		enabled[f.Name] = true
	}
	tracker := submit.NewTracker(store, a.builder, a.sink, cfg.TrackingPollAfter, names)
	tracker.Started = func(via event.Via) { m.TrackingStarted.WithLabelValues(string(via)).Inc() }
	a.tracking.store.Store(store)
	if cfg.SubmitAddr != "" {
		a.tracking.proxy.Store(&submit.Proxy{
			Provider: a.tracking.provider, Tracker: tracker, Families: cfg.Families(), CallbackURL: cfg.SubmitCallbackURL,
			Timeout: cfg.PublishTimeout + 5*time.Second, Log: log.Named("submit"), Failed: m.TrackingFailed.Inc,
		})
	}
	if cfg.TrackingAnnounceSubject != "" {
		for {
			sub, err := submit.Announce(a.nc, cfg.TrackingAnnounceSubject, tracker, cfg.PublishTimeout+5*time.Second, log)
			if err == nil {
				defer func() { _ = sub.Unsubscribe() }()
				break
			}
			log.Error("subscribing to announcements; retrying", zap.String("subject", cfg.TrackingAnnounceSubject), zap.Error(err))
			if !wait.Sleep(ctx) {
				return
			}
		}
	}
	a.tracking.serving.Store(true)

	host, _ := os.Hostname()
	rec := reconcile.New(store, a.tracking.provider, a.builder, a.sink, a.pub, reconcile.Config{
		Replica: fmt.Sprintf("%s/%d", host, os.Getpid()), PollAfter: cfg.TrackingPollAfter,
		Interval: cfg.TrackingPollInterval, Deadline: cfg.TrackingDeadline, Deadlines: cfg.FamilyDeadlines(), StuckAfter: cfg.TrackingStuckAfter,
		Rate: cfg.TrackingPollRate, MaxBackoff: max(10*time.Minute, cfg.TrackingPollInterval), Enabled: enabled,
	}, log, reconcile.Hooks{
		Polled:    func(r string) { m.TrackingPolls.WithLabelValues(r).Inc() },
		PollError: func(r string) { m.TrackingPollErrors.WithLabelValues(r).Inc() },
		Stage:     func(o event.Origin) { m.TrackingStages.WithLabelValues(string(o)).Inc() },
		Gauges: func(tracked, stuck int) {
			m.TrackingTasks.Set(float64(tracked))
			m.TrackingStuck.Set(float64(stuck))
		},
		Finished: func(_ string, how string) { m.TrackingEnded.WithLabelValues(how).Inc() },
		Lost:     m.TrackingClaimsLost.Inc,
	})
	log.Info("tracking tasks", zap.String("bucket", cfg.TrackingBucket),
		zap.String("announce_subject", cfg.TrackingAnnounceSubject), zap.Bool("submit_proxy", cfg.SubmitAddr != ""),
		zap.Duration("poll_after", cfg.TrackingPollAfter), zap.Duration("poll_interval", cfg.TrackingPollInterval),
		zap.Duration("deadline", cfg.TrackingDeadline))
	rec.Run(ctx)
}
