package app

import (
	"cmp"
	"context"
	"fmt"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/archive"
	"net/http"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/backoff"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/config"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deadletter"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/httpapi"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natsembed"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/provider"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/redact"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/spool"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/story"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/verify"
)

// The steps of New, in order. Each one that acquires something adds how
// to release it.

// traces sets OpenTelemetry up from the OTEL_* variables; the last spans
// are flushed when the app closes.
func (a *App) traces(ctx context.Context) error {
	shutdown, err := tracing.Setup(ctx, a.version)
	if err != nil {
		return fmt.Errorf("app: tracing: %w", err)
	}
	if tracing.Active() {
		a.log.Info("tracing on: exporting spans over OTLP")
	}
	a.onClose(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(sctx); err != nil {
			a.log.Warn("flushing spans", zap.Error(err))
		}
	})
	return nil
}

func (a *App) openSpool(context.Context) error {
	if !a.cfg.SpoolEnabled {
		a.log.Warn("spool disabled: callbacks are answered 503 while JetStream is unavailable")
		return nil
	}
	m, dir := a.metrics, filepath.Join(a.cfg.DataDir, "spool")
	sp, damage, err := spool.Open(dir, spool.Limits{MaxBytes: a.cfg.SpoolMaxBytes, MaxEntries: a.cfg.SpoolMaxEntries},
		func(n int, b int64) { m.SpoolEntries.Set(float64(n)); m.SpoolBytes.Set(float64(b)) })
	for _, d := range damage {
		m.SpoolDamaged.Inc()
		a.log.Error("spool damage found", zap.String("segment", d.Segment), zap.Int64("offset", d.Offset),
			zap.Int64("bytes", d.Bytes), zap.String("reason", d.Reason), zap.String("saved_as", d.SavedAs),
			zap.String("save_error", d.SaveError))
	}
	if err != nil {
		return err
	}
	a.spool = sp
	a.onClose(func() {
		if n := sp.Len(); n > 0 {
			a.log.Warn("stopping with events in the spool; the next start publishes them", zap.Int("entries", n))
		}
		_ = sp.Close()
	})
	if n := sp.Len(); n > 0 {
		a.log.Info("spool recovered", zap.String("dir", dir), zap.Int("entries", n))
	}
	if a.cfg.Embedded() && a.cfg.EmbeddedJournal {
		return a.openJournal()
	}
	return nil
}

// journalSync is the embedded server's sync interval under a journal; a
// journal record outlives its event's acknowledgement by journalHorizon.
const (
	journalSync    = time.Second
	journalHorizon = 3 * journalSync
)

// openJournal opens the embedded mode's journal and hands what a crash
// left in it to the spool, before anything is published.
func (a *App) openJournal() error {
	dir := filepath.Join(a.cfg.DataDir, "journal")
	log, damage, err := spool.Open(dir, spool.Limits{MaxBytes: a.cfg.SpoolMaxBytes, MaxEntries: a.cfg.SpoolMaxEntries},
		func(n int, _ int64) { a.metrics.JournalEntries.Set(float64(n)) })
	for _, d := range damage {
		a.log.Error("journal damage found", zap.String("segment", d.Segment), zap.Int64("offset", d.Offset),
			zap.String("reason", d.Reason), zap.String("saved_as", d.SavedAs))
	}
	if err != nil {
		return fmt.Errorf("app: journal: %w", err)
	}
	j := &deliver.Journal{Log: log, Spool: a.spool, Horizon: journalHorizon, Stale: a.cfg.PublishTimeout + 5*time.Second, Logger: a.log.Named("journal")}
	a.onClose(func() { _ = log.Close() })
	// Closers run newest first: this one after the server stopped.
	a.onClose(func() {
		if n, err := j.HandOver(context.Background()); err != nil {
			a.log.Error("journal: handing over at shutdown", zap.Error(err))
		} else if n > 0 {
			a.log.Info("journal handed over to the spool", zap.Int("entries", n))
		}
	})
	if n, err := j.HandOver(context.Background()); err != nil {
		return fmt.Errorf("app: journal: %w", err)
	} else if n > 0 {
		a.log.Info("journal recovered into the spool", zap.Int("entries", n))
	}
	a.journal = j
	return nil
}

// connect starts the embedded server, or dials the external one (and,
// with a spool, starts while it is down), and opens the publisher.
func (a *App) connect(context.Context) error {
	cfg, m := a.cfg, a.metrics
	hooks := publish.ConnHooks{
		OnConnected:    func() { m.NATSConnected.Set(1) },
		OnDisconnected: func() { m.NATSConnected.Set(0) },
	}
	var opts []nats.Option
	servers := cfg.NATSServers()
	if cfg.Embedded() {
		store := filepath.Join(cfg.DataDir, "nats")
		srv, err := natsembed.Start(natsembed.Options{
			StoreDir: store, ListenAddr: cfg.EmbeddedNATSAddr, SyncAlways: cfg.EmbeddedNATSSyncAlways && a.journal == nil,
			SyncInterval: map[bool]time.Duration{true: journalSync}[a.journal != nil],
		}, a.log.Named("nats"))
		if err != nil {
			return fmt.Errorf("app: %s: %w", config.Names("embedded_nats_addr"), err)
		}
		a.onClose(srv.Shutdown)
		a.log.Info("embedded nats started", zap.String("client_url", srv.ClientURL()), zap.String("store_dir", store))
		opts = append(opts, srv.ConnectOption())
	} else {
		var err error
		if opts, err = natsAuth(cfg); err != nil {
			return err
		}
		if cfg.SpoolEnabled {
			opts = append(opts, nats.RetryOnFailedConnect(true))
		}
	}
	nc, err := publish.Connect(servers, a.log, hooks, opts...)
	if err != nil {
		return err
	}
	a.nc, a.natsServers, a.natsOpts = nc, servers, opts
	a.onClose(func() {
		if err := nc.Drain(); err != nil {
			nc.Close()
		}
		waitClosed(nc)
	})
	a.pub, err = publish.NewJetStream(nc, cfg.Stream, cfg.ContentMode, cfg.NATSMaxPayload)
	return err
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

func (a *App) openDeadLetters(context.Context) error {
	cfg, m := a.cfg, a.metrics
	if !cfg.DeadLetterEnabled {
		return nil
	}
	a.dlqSpec = deadletter.StreamSpec{
		Name: cfg.DeadLetterStream, SubjectPrefix: cfg.DeadLetterSubjectPrefix, Replicas: cfg.StreamReplicas,
		MaxAge: cfg.StreamMaxAge, MaxBytes: cfg.DeadLetterMaxBytes,
	}
	w := deadletter.New(a.pub.JS(), a.dlqSpec, cfg.DeadLetterMaxBody, cfg.DeadLetterQueueBytes, func(o string) { m.DeadLetters.WithLabelValues(o).Inc() })
	m.WatchDeadLetterQueue(func() float64 { n, _ := w.Queued(); return float64(n) })
	a.dlq = w
	a.onClose(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if left := w.Close(ctx); left > 0 {
			a.log.Warn("stopping with dead letters the stream did not take; they are dropped", zap.Int("dead_letters", left))
		}
	})
	return nil
}

// setupAtStart sets the streams up if NATS answers. A server that refuses
// the configuration stops start-up, and so does any failure without a
// spool to fall back on; otherwise (NATS down, a cluster mid-election)
// the spool takes callbacks and Run sets the streams up later.
func (a *App) setupAtStart(ctx context.Context) error {
	cfg := a.cfg
	if cfg.StreamDuplicateWindow < config.ProviderRetrySpan {
		a.log.Warn("duplicate window shorter than the provider's retry span",
			zap.Duration("window", cfg.StreamDuplicateWindow), zap.Duration("retry_span", config.ProviderRetrySpan))
	}
	if !a.nc.IsConnected() {
		a.log.Warn("nats unreachable at start-up: spooling callbacks until it is", zap.String("servers", redact.URLs(cfg.NATSServers())))
		a.streamsPending = true
		return nil
	}
	if limit := a.nc.MaxPayload(); cfg.BodyLimit+64<<10 > limit {
		a.log.Warn("nats max_payload is below what body_limit allows: large callbacks will be refused 413",
			zap.Int64("max_payload", limit), zap.Int64("body_limit", cfg.BodyLimit))
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := a.setupStreams(sctx)
	if err == nil || !cfg.SpoolEnabled || !cfg.StreamManage || publish.Refused(err) {
		return err
	}
	a.log.Warn("stream set-up did not finish at start-up: spooling until it does", zap.Error(err))
	a.streamsPending = true
	return nil
}

// setupStreams creates or checks the event stream and the dead-letter
// stream, and learns the event stream's limits.
func (a *App) setupStreams(ctx context.Context) error {
	spec := publish.StreamSpec{
		Name: a.cfg.Stream, SubjectPrefix: a.cfg.SubjectPrefix, Replicas: a.cfg.StreamReplicas,
		MaxAge: a.cfg.StreamMaxAge, Duplicates: a.cfg.StreamDuplicateWindow,
	}
	if a.cfg.TrackingEnabled {
		spec.TaskSubjectPrefix = event.TaskPrefix(a.cfg.SubjectPrefix)
	}
	prefixes := a.cfg.Prefixes()
	for _, f := range a.cfg.Families() {
		if f.Name == event.FamilyVocals {
			continue
		}
		spec.MorePrefixes = append(spec.MorePrefixes, prefixes[f.Name])
		if a.cfg.TrackingEnabled {
			spec.MorePrefixes = append(spec.MorePrefixes, event.TaskPrefix(prefixes[f.Name]))
		}
	}
	if !a.cfg.StreamManage {
		warnings, err := publish.CheckStream(ctx, a.pub.JS(), spec)
		for _, w := range warnings {
			a.log.Warn("stream configuration", zap.String("stream", a.cfg.Stream), zap.String("warning", w))
		}
		if err != nil {
			return err
		}
	} else if err := publish.EnsureStream(ctx, a.pub.JS(), spec); err != nil {
		return err
	}
	if _, err := a.pub.Stream(ctx); err != nil { // learns its max_msg_size
		return err
	}
	if a.dlq != nil && a.cfg.StreamManage {
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

// pipeline makes the builder, the deliverer, with archiving on the
// archiver and with tracking on the provider client.
func (a *App) pipeline(context.Context) error {
	cfg := a.cfg
	loc, err := time.LoadLocation(cfg.ProviderTimeZone)
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	a.builder = cloudevent.NewBuilder(cfg.SubjectPrefix, cfg.EventSource, cfg.SchemaBase(), loc).WithPrefixes(cfg.Prefixes())
	a.sink = deliver.New(a.pub, a.spool, a.journal, cfg.PublishTimeout, a.pub.MaxEvent)
	if cfg.ArchiveEnabled {
		if a.archiver, err = a.newArchiver(); err != nil {
			return err
		}
	}
	if !cfg.TrackingEnabled {
		return nil
	}
	key, err := cfg.ProviderAPIKeyValue()
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	a.tracking = &tracking{m: a.metrics}
	a.tracking.provider, err = provider.New(cfg.ProviderBaseURL, key, cfg.ProviderTimeout)
	return err
}

// newArchiver is the archiver of the enabled families whose data holds
// media. It has a NATS connection of its own: an object's chunks must not
// queue in front of the callbacks' publishes and acks.
func (a *App) newArchiver() (*archive.Archiver, error) {
	cfg := a.cfg
	log := a.log.Named("archive")
	nc, err := publish.Connect(a.natsServers, log, publish.ConnHooks{},
		append(a.natsOpts, nats.Name("vocals-bridge archiver"), nats.RetryOnFailedConnect(true))...)
	if err != nil {
		return nil, fmt.Errorf("app: archiver: %w", err)
	}
	a.onClose(func() {
		if err := nc.Drain(); err != nil {
			nc.Close()
		}
		waitClosed(nc)
	})
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("app: archiver: %w", err)
	}
	names, nets, _ := config.ParseAllowedHosts(cfg.ArchiveAllowedHosts) // validated with the config
	prefixes := cfg.Prefixes()
	archived := map[event.Family]string{}
	for _, f := range cfg.Families() {
		if f.Name.Archives() {
			archived[f.Name] = prefixes[f.Name]
		}
	}
	return archive.New(archive.Config{
		Stream: cfg.Stream, Prefixes: archived, Bucket: cfg.ArchiveBucket, Replicas: cfg.StreamReplicas,
		Policy:       archive.Policy{Names: names, Nets: nets, MaxBytes: cfg.ArchiveMaxObjectBytes},
		MaxTaskBytes: cfg.ArchiveMaxTaskBytes, Concurrency: cfg.ArchiveConcurrency, Rate: cfg.ArchiveRate,
		Timeout: cfg.ArchiveTimeout, Retention: cfg.ArchiveRetention,
	}, js, a.sink, a.builder, a.metrics, log), nil
}

func (a *App) verifier() (*verify.Verifier, error) {
	cfg, log := a.cfg, a.log
	keys, err := cfg.ProviderKeys()
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	v, err := verify.New(verify.Config{
		ProviderKeys: keys, StandardSecrets: cfg.StandardSecrets(), Token: cfg.CallbackToken,
		Tolerance: cfg.SignatureTolerance, ReplayCacheSize: cfg.ReplayCacheSize,
	})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	if v.Enabled() {
		a.metrics.VerificationEnabled.Set(1)
		log.Info("source verification on", zap.Int("provider_keys", len(keys)),
			zap.Int("standard_webhook_secrets", len(cfg.StandardSecrets())), zap.Bool("token", cfg.CallbackToken != ""))
	} else {
		log.Warn("source verification is OFF: anyone who can reach the callback URL can publish events; " +
			"set webhook_hmac_key, standard_webhook_secret or callback_token before exposing the bridge")
	}
	return v, nil
}

// listen binds the public, admin and (with tracking) submit listeners.
func (a *App) listen(context.Context) error {
	cfg := a.cfg
	v, err := a.verifier()
	if err != nil {
		return err
	}
	allowed, _ := config.ParsePrefixes(cfg.AllowedCIDRs) // validated with the config
	trusted, _ := config.ParsePrefixes(cfg.TrustedProxies)
	var tlsFiles *httpapi.TLSFiles
	if cfg.TLSCertFile != "" {
		tlsFiles = &httpapi.TLSFiles{Cert: cfg.TLSCertFile, Key: cfg.TLSKeyFile}
	}
	deps := httpapi.PublicDeps{
		Log: a.log, Metrics: a.metrics, Builder: a.builder, Sink: a.sink, Verifier: v, Families: cfg.Families(),
		BodyLimit: cfg.BodyLimit, RetryAfter: cfg.RetryAfter, Schemas: event.Schemas(), SchemaBase: cfg.SchemaBase(),
		Guard: httpapi.GuardConfig{
			Allowed: allowed, TrustedProxies: trusted,
			RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst,
			MaxReadsPerSource: cfg.MaxReadsPerSource, MinBodyRate: cfg.BodyMinRate,
			BodyReadGrace: cfg.BodyReadGrace, ReadTimeout: cfg.ReadTimeout,
			MaxInFlight: cfg.MaxInFlight, RetryAfter: cfg.RetryAfter,
		},
	}
	if a.dlq != nil {
		deps.DeadLetter = a.dlq
	}
	if a.tracking != nil {
		deps.Tasks = a.tracking
	}
	timeouts := httpapi.Timeouts{ReadHeader: cfg.ReadHeaderTimeout, Read: cfg.ReadTimeout, Write: cfg.WriteTimeout, Idle: cfg.IdleTimeout}
	bind := func(name, key, addr string, h http.Handler, tlsFiles *httpapi.TLSFiles) error {
		l, err := httpapi.Listen(addr, h, timeouts, tlsFiles)
		if err != nil {
			return fmt.Errorf("app: %s listener, %s: %w", name, config.Names(key), err)
		}
		a.listeners[name] = l
		a.onClose(func() { _ = l.Shutdown(context.Background()) })
		return nil
	}
	public := httpapi.NewPublic(deps)
	if err := bind("public", "http_addr", cfg.HTTPAddr, public, tlsFiles); err != nil {
		return err
	}
	admin := httpapi.NewAdmin(httpapi.AdminDeps{Log: a.log, Metrics: a.metrics, Gatherer: a.reg, Ready: a.ready, Pprof: cfg.AdminPprof,
		API: a.adminAPI(public)})
	if err := bind("admin", "admin_addr", cfg.AdminAddr, admin, nil); err != nil {
		return err
	}
	if a.tracking != nil && cfg.SubmitAddr != "" {
		return bind("submit", "submit_addr", cfg.SubmitAddr, httpapi.NewSubmit(a.log.Named("submit"), a.metrics, cfg.Families(),
			httpapi.SubmitGuard{Token: cfg.SubmitToken, Rate: cfg.SubmitRateLimit}, a.tracking.handler), nil)
	}
	return nil
}

// adminAPI is what the admin listener's /api/ reads and redrives with.
func (a *App) adminAPI(public *httpapi.Public) *httpapi.AdminAPI {
	cfg := a.cfg
	src := story.Sources{JS: a.pub.JS(), Stream: cfg.Stream, Prefixes: map[event.Family]string{}, Spool: a.spool,
		Deadline: func(f event.Family) time.Duration { return cmp.Or(cfg.FamilyDeadlines()[f], cfg.TrackingDeadline) }}
	prefixes := cfg.Prefixes()
	for _, f := range cfg.Families() {
		src.Prefixes[f.Name] = prefixes[f.Name]
	}
	if cfg.TrackingEnabled {
		src.TrackingBucket = cfg.TrackingBucket
	}
	api := &httpapi.AdminAPI{
		Story:   func(ctx context.Context, id string) (story.Story, error) { return story.Tell(ctx, src, id) },
		Redrive: public.Redrive, Token: cfg.AdminToken,
	}
	if a.dlq != nil {
		api.DeadLetters = &deadletter.Store{JS: a.pub.JS(), Spec: a.dlqSpec}
		src.DeadLetters = api.DeadLetters
	}
	api.Glance = func(ctx context.Context) httpapi.Glance {
		g := httpapi.Glance{Readiness: a.ready(ctx), TrackingOn: cfg.TrackingEnabled}
		if a.spool != nil {
			var oldest time.Duration
			g.SpoolEntries, _, oldest = a.spool.Stats()
			g.SpoolOldest = oldest.Round(time.Second)
		}
		js := a.pub.JS()
		if st, err := js.Stream(ctx, cfg.Stream); err == nil {
			g.StreamMsgs = st.CachedInfo().State.Msgs
		}
		if st, err := js.Stream(ctx, cfg.DeadLetterStream); err == nil && a.dlq != nil {
			g.DeadLetterMsgs = st.CachedInfo().State.Msgs
		}
		if kv, err := js.KeyValue(ctx, cfg.TrackingBucket); err == nil && cfg.TrackingEnabled {
			if st, err := kv.Status(ctx); err == nil {
				g.Tracked = st.Values()
			}
		}
		return g
	}
	return api
}

// drain runs the spool drainer and keeps the oldest-age gauge current.
func (a *App) drain(ctx context.Context) {
	d := &deliver.Drainer{
		Spool: a.spool, Publisher: a.pub, Captures: a.pub.Captures, Log: a.log.Named("spool"),
		Timeout: a.cfg.PublishTimeout, MinBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second,
		Hooks: deliver.DrainHooks{
			Drained: a.metrics.SpoolDrained.Inc,
			Error:   func(r string) { a.metrics.SpoolDrainErrors.WithLabelValues(r).Inc() },
		},
	}
	a.drainer.Store(d)
	var g errgroup.Group
	g.Go(func() error {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			_, _, age := a.spool.Stats()
			a.metrics.SpoolOldestAge.Set(age.Seconds())
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
	d.Run(ctx)
	_ = g.Wait()
}
