// Package app wires the bridge together from its configuration and runs it:
// NATS (embedded or external), the stream, the publisher, and both HTTP
// listeners, with an orderly shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/backoff"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/build"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/config"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deadletter"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/httpapi"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natsembed"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/provider"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/spool"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/verify"
)

// App is a configured, started bridge. Close releases what New acquired
// when Run is never called.
type App struct {
	cfg      config.Config
	log      *zap.Logger
	embedded *natsembed.Server
	nc       *nats.Conn
	pub      *publish.JetStream
	spool    *spool.Spool       // nil when disabled
	dlq      *deadletter.Writer // nil when disabled
	// streamsPending is set when NATS was down at start-up: Run sets the
	// streams up once it connects.
	streamsPending bool
	metrics        *metrics.Metrics
	public         *httpapi.Listener
	admin          *httpapi.Listener
	submit         *httpapi.Listener // nil without submit_addr
	builder        *build.Builder
	sink           *deliver.Deliverer
	tracking       *tracking // nil unless tracking_enabled
}

// New starts NATS (or connects to it), makes sure the stream exists, and
// binds both listeners. It fails, naming the cause, if any of that fails.
func New(ctx context.Context, cfg config.Config, log *zap.Logger, version string) (_ *App, err error) {
	a := &App{cfg: cfg, log: log}
	defer func() {
		if err != nil { // release whatever was started before the failure
			a.Close()
		}
	}()

	reg := prometheus.NewRegistry()
	m := metrics.New(reg, version)
	a.metrics = m

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("app: data dir: %w", err)
	}
	// The spool first: its lock refuses a second bridge on this data dir
	// before anything else is touched.
	if cfg.SpoolEnabled {
		dir := filepath.Join(cfg.DataDir, "spool")
		var damage []spool.Damage
		a.spool, damage, err = spool.Open(dir, spool.Limits{MaxBytes: cfg.SpoolMaxBytes, MaxEntries: cfg.SpoolMaxEntries},
			func(n int, b int64) { m.SpoolEntries.Set(float64(n)); m.SpoolBytes.Set(float64(b)) })
		for _, d := range damage {
			m.SpoolDamaged.Inc()
			log.Error("spool damage found", zap.String("segment", d.Segment), zap.Int64("offset", d.Offset),
				zap.Int64("bytes", d.Bytes), zap.String("reason", d.Reason), zap.String("saved_as", d.SavedAs),
				zap.String("save_error", d.SaveError))
		}
		if err != nil {
			return nil, err
		}
		if n := a.spool.Len(); n > 0 {
			log.Info("spool recovered", zap.String("dir", dir), zap.Int("entries", n))
		}
	} else {
		log.Warn("spool disabled: callbacks are answered 503 while JetStream is unavailable")
	}
	hooks := publish.ConnHooks{
		OnConnected:    func() { m.NATSConnected.Set(1) },
		OnDisconnected: func() { m.NATSConnected.Set(0) },
	}
	if cfg.Embedded() {
		a.embedded, err = natsembed.Start(natsembed.Options{
			StoreDir:   filepath.Join(cfg.DataDir, "nats"),
			ListenAddr: cfg.EmbeddedNATSAddr,
			SyncAlways: cfg.EmbeddedNATSSyncAlways,
		}, log.Named("nats"))
		if err != nil {
			return nil, err
		}
		a.nc, err = publish.Connect(nil, log, hooks, a.embedded.ConnectOption())
		log.Info("embedded nats started", zap.String("client_url", a.embedded.ClientURL()),
			zap.String("store_dir", filepath.Join(cfg.DataDir, "nats")))
	} else {
		var extra []nats.Option
		if extra, err = natsAuth(cfg); err != nil {
			return nil, err
		}
		if cfg.SpoolEnabled {
			// With a spool the bridge can take callbacks while NATS is down,
			// so it also starts while NATS is down.
			extra = append(extra, nats.RetryOnFailedConnect(true))
		}
		a.nc, err = publish.Connect(cfg.NATSServers(), log, hooks, extra...)
	}
	if err != nil {
		return nil, err
	}

	if a.pub, err = publish.NewJetStream(a.nc, cfg.Stream, cfg.ContentMode, cfg.NATSMaxPayload); err != nil {
		return nil, err
	}
	var deadLetters httpapi.DeadLetter
	if cfg.DeadLetterEnabled {
		a.dlq = deadletter.New(a.pub.JS(), deadletter.StreamSpec{
			Name: cfg.DeadLetterStream, SubjectPrefix: cfg.DeadLetterSubjectPrefix, Replicas: cfg.StreamReplicas,
			MaxAge: cfg.StreamMaxAge, MaxBytes: cfg.DeadLetterMaxBytes,
		}, cfg.DeadLetterMaxBody, cfg.DeadLetterQueueBytes, func(o string) { m.DeadLetters.WithLabelValues(o).Inc() })
		m.WatchDeadLetterQueue(func() float64 { n, _ := a.dlq.Queued(); return float64(n) })
		deadLetters = a.dlq
	}
	if a.nc.IsConnected() {
		// An event is a little larger than its body; a server that cannot
		// carry it refuses it for good.
		if limit := a.nc.MaxPayload(); cfg.BodyLimit+64<<10 > limit {
			log.Warn("nats max_payload is below what body_limit allows: large callbacks will be refused",
				zap.Int64("max_payload", limit), zap.Int64("body_limit", cfg.BodyLimit))
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := a.setupStreams(sctx)
		cancel()
		var apiErr *jetstream.APIError
		switch {
		case err == nil:
		case !cfg.SpoolEnabled || !cfg.StreamManage || errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500:
			// No spool to fall back on, or a configuration the server refuses.
			return nil, err
		default:
			// A cluster in the middle of an election or a recovery can be
			// slow to answer; the spool takes callbacks meanwhile.
			log.Warn("stream set-up did not finish at start-up: spooling until it does", zap.Error(err))
			a.streamsPending = true
		}
	} else {
		log.Warn("nats unreachable at start-up: spooling callbacks until it is", zap.Strings("servers", cfg.NATSServers()))
		a.streamsPending = true
	}
	if cfg.StreamDuplicateWindow < config.ProviderRetrySpan {
		log.Warn("duplicate window shorter than the provider's retry span",
			zap.Duration("window", cfg.StreamDuplicateWindow), zap.Duration("retry_span", config.ProviderRetrySpan))
	}

	loc, err := time.LoadLocation(cfg.ProviderTimeZone)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	keys, err := cfg.ProviderKeys()
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	verifier, err := verify.New(verify.Config{
		ProviderKeys: keys, StandardSecrets: cfg.StandardSecrets(), Token: cfg.CallbackToken,
		Tolerance: cfg.SignatureTolerance, ReplayCacheSize: cfg.ReplayCacheSize,
	})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	if verifier.Enabled() {
		m.VerificationEnabled.Set(1)
		log.Info("source verification on", zap.Int("provider_keys", len(keys)),
			zap.Int("standard_webhook_secrets", len(cfg.StandardSecrets())), zap.Bool("token", cfg.CallbackToken != ""))
	} else {
		log.Warn("source verification is OFF: anyone who can reach the callback URL can publish events; " +
			"set webhook_hmac_key, standard_webhook_secret or callback_token before exposing the bridge")
	}
	allowed, _ := config.ParsePrefixes(cfg.AllowedCIDRs) // validated with the config
	trusted, _ := config.ParsePrefixes(cfg.TrustedProxies)
	var tlsFiles *httpapi.TLSFiles
	if cfg.TLSCertFile != "" {
		tlsFiles = &httpapi.TLSFiles{Cert: cfg.TLSCertFile, Key: cfg.TLSKeyFile}
	}

	a.builder = build.NewBuilder(cfg.SubjectPrefix, cfg.EventSource, cfg.SchemaBase(), loc)
	a.sink = deliver.New(a.pub, a.spool, cfg.PublishTimeout, a.pub.MaxEvent)
	var tasks httpapi.TaskObserver
	if cfg.TrackingEnabled {
		key, err := cfg.ProviderAPIKeyValue()
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
		a.tracking = &tracking{m: m}
		if a.tracking.provider, err = provider.New(cfg.ProviderBaseURL, key, cfg.ProviderTimeout); err != nil {
			return nil, err
		}
		tasks = a.tracking
	}

	timeouts := httpapi.Timeouts{
		ReadHeader: cfg.ReadHeaderTimeout, Read: cfg.ReadTimeout,
		Write: cfg.WriteTimeout, Idle: cfg.IdleTimeout,
	}
	publicHandler := httpapi.NewPublic(httpapi.PublicDeps{
		Log:        log,
		Metrics:    m,
		Builder:    a.builder,
		Sink:       a.sink,
		Tasks:      tasks,
		BodyLimit:  cfg.BodyLimit,
		RetryAfter: cfg.RetryAfter,
		Schemas:    event.Schemas(),
		DeadLetter: deadLetters,
		Verifier:   verifier,
		Guard: httpapi.GuardConfig{
			Allowed: allowed, TrustedProxies: trusted,
			RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst,
			MaxReadsPerSource: cfg.MaxReadsPerSource, MinBodyRate: cfg.BodyMinRate,
			BodyReadGrace: cfg.BodyReadGrace, ReadTimeout: cfg.ReadTimeout,
			MaxInFlight: cfg.MaxInFlight, RetryAfter: cfg.RetryAfter,
		},
	})
	if a.public, err = httpapi.Listen(cfg.HTTPAddr, publicHandler, timeouts, tlsFiles); err != nil {
		return nil, err
	}
	adminHandler := httpapi.NewAdmin(httpapi.AdminDeps{
		Log: log, Metrics: m, Gatherer: reg, Ready: a.ready, Pprof: cfg.AdminPprof,
	})
	if a.admin, err = httpapi.Listen(cfg.AdminAddr, adminHandler, timeouts, nil); err != nil {
		return nil, err
	}
	if cfg.TrackingEnabled && cfg.SubmitAddr != "" {
		h := httpapi.NewSubmit(log.Named("submit"), m, a.tracking.handler)
		if a.submit, err = httpapi.Listen(cfg.SubmitAddr, h, timeouts, nil); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// natsAuth turns the credential and TLS settings into connection options.
func natsAuth(cfg config.Config) ([]nats.Option, error) {
	var opts []nats.Option
	if cfg.NATSCredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.NATSCredsFile))
	}
	if cfg.NATSNKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NATSNKeyFile)
		if err != nil {
			return nil, fmt.Errorf("app: nats_nkey_file: %w", err)
		}
		opts = append(opts, o)
	}
	if cfg.NATSCAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.NATSCAFile))
	}
	if cfg.NATSCertFile != "" {
		opts = append(opts, nats.ClientCert(cfg.NATSCertFile, cfg.NATSKeyFile))
	}
	return opts, nil
}

// setupStreams creates or checks the event stream and the dead-letter stream.
func (a *App) setupStreams(ctx context.Context) error {
	spec := publish.StreamSpec{
		Name: a.cfg.Stream, SubjectPrefix: a.cfg.SubjectPrefix, Replicas: a.cfg.StreamReplicas,
		MaxAge: a.cfg.StreamMaxAge, Duplicates: a.cfg.StreamDuplicateWindow,
	}
	if a.cfg.TrackingEnabled {
		spec.TaskSubjectPrefix = event.TaskPrefix(a.cfg.SubjectPrefix)
	}
	if !a.cfg.StreamManage {
		warnings, err := publish.CheckStream(ctx, a.pub.JS(), spec)
		for _, w := range warnings {
			a.log.Warn("stream configuration", zap.String("stream", a.cfg.Stream), zap.String("warning", w))
		}
		if err == nil {
			_, err = a.pub.Stream(ctx) // learns its max_msg_size
		}
		return err
	}
	if err := publish.EnsureStream(ctx, a.pub.JS(), spec); err != nil {
		return err
	}
	if _, err := a.pub.Stream(ctx); err != nil { // learns its max_msg_size
		return err
	}
	if a.dlq != nil {
		return a.dlq.EnsureStream(ctx)
	}
	return nil
}

// setupStreamsLater retries setupStreams until it succeeds or ctx ends.
func (a *App) setupStreamsLater(ctx context.Context) {
	wait := backoff.Backoff{Min: time.Second, Max: 30 * time.Second}
	for {
		if a.nc.IsConnected() {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := a.setupStreams(sctx)
			cancel()
			if err == nil {
				a.log.Info("streams set up", zap.String("stream", a.cfg.Stream))
				return
			}
			a.log.Error("setting up streams", zap.Error(err))
		}
		if !wait.Sleep(ctx) {
			return
		}
	}
}

// ready is "ready" when the connection is up and the stream answers,
// "degraded" when it is not but the spool takes callbacks, else
// "unavailable".
func (a *App) ready(ctx context.Context) httpapi.Readiness {
	var reason string
	if !a.nc.IsConnected() {
		reason = fmt.Sprintf("nats: %s", a.nc.Status())
	} else if _, err := a.pub.Stream(ctx); err != nil {
		reason = fmt.Sprintf("stream %s: %v", a.cfg.Stream, err)
	} else {
		return httpapi.Readiness{Status: httpapi.Ready}
	}
	if a.spool != nil {
		// Room for an event built from the largest body, with its envelope.
		err := a.spool.Writable(2 * a.cfg.BodyLimit)
		if err == nil {
			return httpapi.Readiness{Status: httpapi.Degraded, Reason: reason + "; spooling"}
		}
		reason += "; spool cannot take callbacks: " + err.Error()
	}
	return httpapi.Readiness{Status: httpapi.Unavailable, Reason: reason}
}

// Run serves until ctx ends or a listener fails, then shuts down: stop
// accepting, finish in-flight requests, drain NATS, stop the embedded server.
func (a *App) Run(ctx context.Context) error {
	errc := make(chan error, 3)
	listeners := map[string]*httpapi.Listener{"public": a.public, "admin": a.admin}
	if a.submit != nil {
		listeners["submit"] = a.submit
	}
	for name, l := range listeners {
		a.log.Info("listening", zap.String("listener", name), zap.String("addr", l.Addr()))
		go func() {
			if err := l.Serve(); err != nil {
				errc <- fmt.Errorf("%s listener: %w", name, err)
			}
		}()
	}
	drainCtx, stopDrain := context.WithCancel(context.Background())
	setupDone := make(chan struct{})
	go func() {
		defer close(setupDone)
		if a.streamsPending {
			a.setupStreamsLater(drainCtx)
		}
	}()
	tracked := make(chan struct{})
	go func() {
		defer close(tracked)
		if a.tracking != nil {
			<-setupDone // the stream takes submitted events first
			a.runTracking(drainCtx)
		}
	}()
	drained := make(chan struct{})
	if a.spool != nil {
		go func() {
			defer close(drained)
			a.drain(drainCtx)
		}()
	} else {
		close(drained)
	}
	a.log.Info("bridge started", zap.String("stream", a.cfg.Stream),
		zap.String("subject_prefix", a.cfg.SubjectPrefix), zap.Bool("embedded_nats", a.cfg.Embedded()))

	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down")
	case runErr = <-errc:
		a.log.Error("listener failed, shutting down", zap.Error(runErr))
	}

	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := a.public.Shutdown(sctx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("public listener shutdown: %w", err))
	}
	a.public = nil
	if err := a.admin.Shutdown(sctx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("admin listener shutdown: %w", err))
	}
	a.admin = nil
	if a.submit != nil {
		if err := a.submit.Shutdown(sctx); err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("submit listener shutdown: %w", err))
		}
		a.submit = nil
	}
	stopDrain()
	<-drained
	<-setupDone
	<-tracked
	a.Close()
	a.log.Info("stopped")
	return runErr
}

// Close drains the NATS connection and stops the embedded server. It is
// safe to call more than once.
func (a *App) Close() {
	if a.public != nil {
		_ = a.public.Shutdown(context.Background())
		a.public = nil
	}
	if a.admin != nil {
		_ = a.admin.Shutdown(context.Background())
		a.admin = nil
	}
	if a.submit != nil {
		_ = a.submit.Shutdown(context.Background())
		a.submit = nil
	}
	if a.dlq != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if left := a.dlq.Close(ctx); left > 0 {
			a.log.Warn("stopping with dead letters the stream did not take; they are dropped", zap.Int("dead_letters", left))
		}
		cancel()
		a.dlq = nil
	}
	if a.spool != nil {
		if n := a.spool.Len(); n > 0 {
			a.log.Warn("stopping with events in the spool; the next start publishes them", zap.Int("entries", n))
		}
		_ = a.spool.Close()
		a.spool = nil
	}
	if a.nc != nil {
		if err := a.nc.Drain(); err != nil {
			a.nc.Close()
		}
		for i := 0; i < 100 && !a.nc.IsClosed(); i++ {
			time.Sleep(20 * time.Millisecond)
		}
		a.nc = nil
	}
	if a.embedded != nil {
		a.embedded.Shutdown()
		a.embedded = nil
	}
}

// drain runs the spool drainer and keeps the oldest-age gauge current.
func (a *App) drain(ctx context.Context) {
	d := &deliver.Drainer{
		Spool: a.spool, Publisher: a.pub, Log: a.log.Named("spool"),
		Timeout: a.cfg.PublishTimeout, MinBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second,
		Hooks: deliver.DrainHooks{
			Drained: a.metrics.SpoolDrained.Inc,
			Error:   func(r string) { a.metrics.SpoolDrainErrors.WithLabelValues(r).Inc() },
		},
	}
	sp := a.spool
	ageDone := make(chan struct{})
	go func() {
		defer close(ageDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			_, _, age := sp.Stats()
			a.metrics.SpoolOldestAge.Set(age.Seconds())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	defer func() { <-ageDone }()
	d.Run(ctx)
}
