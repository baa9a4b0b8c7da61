// Package archive keeps the provider's media before it deletes it (14-15
// days after a task): a durable consumer on the stream's complete events,
// shared by every replica, downloads each media URL once under a Policy
// into the JetStream Object Store and publishes the task's archived event,
// which lists each object or why it could not be kept.
package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/backoff"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
)

// Durable names the archiver's consumer on the stream; every replica
// shares it, so each complete event is archived by one of them at a time.
const Durable = "archiver"

// Outcomes label vocals_bridge_archive_downloads_total: a file stored
// now, one found stored, one to try again, then every reason a file is
// given up for (and ReasonStore, an Object Store failure, tried again).
var Outcomes = []string{"archived", "existing", "retried", ReasonHostNotAllowed, ReasonAddressNotAllowed, ReasonTooLarge,
	ReasonTaskTooLarge, ReasonContentType, ReasonHTTPStatus, ReasonTimeout, ReasonNetwork, ReasonExpired, ReasonStore}

// ReasonStore is an Object Store write or read that failed; the file is
// tried again.
const ReasonStore = "store"

// Config is what the archiver needs of the bridge's settings.
type Config struct {
	Stream string
	// Prefixes are the subject prefixes of the families archived: those
	// on whose data lists media (event.Family.Archives).
	Prefixes     map[event.Family]string
	Bucket       string
	Replicas     int
	Policy       Policy
	MaxTaskBytes int64
	Concurrency  int
	Rate         float64       // downloads started per second
	Timeout      time.Duration // one download
	Retention    time.Duration // after the complete event, the provider deletes its files
}

// Builder makes an archived event; *cloudevent.Builder is the real one.
type Builder interface {
	Archived(tr tracing.Context, fam event.Family, taskID string, data event.ArchivedV1) (outbound.Message, error)
}

// Archiver archives media; Run does the work.
type Archiver struct {
	cfg     Config
	js      jetstream.JetStream
	fetch   *Fetcher
	sink    deliver.Sink
	build   Builder
	limiter *rate.Limiter
	retry   backoff.Backoff
	m       *metrics.Metrics
	log     *zap.Logger
	now     func() time.Time
}

// New returns an Archiver that reads js's stream, stores into cfg.Bucket
// and records archived events through sink.
func New(cfg Config, js jetstream.JetStream, sink deliver.Sink, build Builder, m *metrics.Metrics, log *zap.Logger) *Archiver {
	for _, o := range Outcomes {
		m.ArchiveDownloads.WithLabelValues(o)
	}
	// Retries spread over the retention: a thousandth of it at first (at
	// least 100ms, at most 30s), doubling to a twentieth (at most 1h).
	retry := backoff.Backoff{
		Min: min(max(cfg.Retention/1000, 100*time.Millisecond), 30*time.Second),
		Max: min(max(cfg.Retention/20, time.Second), time.Hour),
	}
	return &Archiver{
		cfg: cfg, js: js, fetch: NewFetcher(cfg.Policy), sink: sink, build: build,
		limiter: rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(cfg.Rate))),
		retry:   retry, m: m, log: log, now: time.Now,
	}
}

// Run opens the bucket and the consumer (retrying while NATS is away),
// then archives with cfg.Concurrency workers until ctx ends.
func (a *Archiver) Run(ctx context.Context) {
	var (
		store jetstream.ObjectStore
		cons  jetstream.Consumer
	)
	wait := backoff.Backoff{Min: time.Second, Max: 30 * time.Second}
	for {
		var err error
		if store, cons, err = a.open(ctx); err == nil {
			break
		}
		a.log.Warn("opening the media bucket and the archiver's consumer; retrying", zap.Error(err))
		if !wait.Sleep(ctx) {
			return
		}
	}
	a.log.Info("archiving", zap.String("bucket", a.cfg.Bucket), zap.Int("families", len(a.cfg.Prefixes)))
	var wg sync.WaitGroup
	for range a.cfg.Concurrency {
		wg.Go(func() { a.work(ctx, store, cons) })
	}
	wg.Go(func() { a.watch(ctx, cons) })
	wg.Go(func() { a.sweepEvery(ctx, store, time.Minute, time.Hour) })
	wg.Wait()
}

// sweepEvery removes what uploads cut off left in the bucket (sweep),
// first after start and then every period; every replica does, which is
// harmless.
func (a *Archiver) sweepEvery(ctx context.Context, store jetstream.ObjectStore, first, period time.Duration) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := sweep(ctx, a.js, store, a.cfg.Bucket, 2*a.ackWait(), a.now())
		switch {
		case err != nil:
			a.log.Warn("sweeping the chunks of cut-off uploads", zap.Error(err))
		case n > 0:
			a.log.Info("swept the chunks of cut-off uploads", zap.Int("uploads", n))
		}
		t.Reset(period)
	}
}

// ackWait is how long a replica may go silent on an event before another
// gets it: one download and its store. The worker says it is still busy
// before each file (InProgress), so a kill -9 delays the task by no more.
func (a *Archiver) ackWait() time.Duration {
	return a.cfg.Timeout + max(a.cfg.Timeout/2, 5*time.Second)
}

// open finds or creates the bucket and creates or updates the consumer.
func (a *Archiver) open(ctx context.Context) (jetstream.ObjectStore, jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := a.js.ObjectStore(ctx, a.cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		store, err = a.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket: a.cfg.Bucket, Description: "vocals-bridge: archived media", Replicas: a.cfg.Replicas, Storage: jetstream.FileStorage,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another replica was first
			store, err = a.js.ObjectStore(ctx, a.cfg.Bucket)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("bucket %s: %w", a.cfg.Bucket, err)
	}
	opts := consumer.Options{
		Stream: a.cfg.Stream, Durable: Durable, Stages: []event.Stage{event.StageComplete}, Prefixes: a.cfg.Prefixes,
		SubjectPrefix: a.cfg.Prefixes[event.FamilyVocals], MaxDeliver: -1, AckWait: a.ackWait(),
	}
	for f := range a.cfg.Prefixes {
		opts.Families = append(opts.Families, f)
	}
	cons, err := consumer.Ensure(ctx, a.js, opts)
	return store, cons, err
}

// work takes complete events one at a time until ctx ends.
func (a *Archiver) work(ctx context.Context, store jetstream.ObjectStore, cons jetstream.Consumer) {
	wait := backoff.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msg, err := cons.Next(jetstream.FetchContext(fctx))
		cancel()
		switch {
		case err == nil:
			wait.Reset()
			a.handle(ctx, store, msg)
		case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil:
		default:
			a.log.Debug("fetching a complete event", zap.Error(err))
			wait.Sleep(ctx)
		}
	}
}

// handle archives one complete event's media and publishes its archived
// event, or asks for it again later while a file may still be kept.
func (a *Archiver) handle(ctx context.Context, store jetstream.ObjectStore, msg jetstream.Msg) {
	e, err := consumer.Decode(msg.Subject(), msg.Headers(), msg.Data())
	if err != nil {
		a.log.Warn("not an event: not archived", zap.String("subject", msg.Subject()), zap.Error(err))
		_ = msg.Term()
		return
	}
	lister, ok := e.Payload.(event.MediaLister)
	var media []event.Media
	if ok {
		media = lister.Media()
	}
	if len(media) == 0 {
		_ = msg.Ack() // nothing to keep, nothing to say
		return
	}
	taskID := e.Common().TaskID
	log := a.log.With(zap.String("family", string(e.Family)), zap.String("task_id", taskID))
	expired := a.now().After(e.CloudEvent.Time().Add(a.cfg.Retention))
	data := event.ArchivedV1{TaskID: taskID, SourceEvent: e.CloudEvent.ID(), Bucket: a.cfg.Bucket, Objects: []event.ArchivedObjectV1{}}
	var taskBytes int64
	retry := false
	for _, m := range media {
		obj, err := a.keep(ctx, store, msg, e.Family, taskID, m, &taskBytes)
		if ctx.Err() != nil {
			return // shutting down: redelivered to whoever runs next
		}
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				fe = &Error{Reason: ReasonStore, Err: err}
			}
			if !fe.Permanent && !expired {
				retry = true
				a.m.ArchiveDownloads.WithLabelValues("retried").Inc()
				log.Info("media not archived yet; will retry", zap.String("url", m.URL), zap.String("reason", fe.Reason), zap.Error(fe.Err))
				continue
			}
			reason := fe.Reason
			if !fe.Permanent {
				reason = ReasonExpired
			}
			a.m.ArchiveDownloads.WithLabelValues(reason).Inc()
			log.Warn("media not archived", zap.String("url", m.URL), zap.String("reason", reason), zap.Error(fe.Err))
			obj = event.ArchivedObjectV1{MediaID: m.ID, Kind: m.Kind, URL: m.URL, Status: event.ObjectFailed, Reason: reason, Error: fe.Err.Error()}
		}
		data.Objects = append(data.Objects, obj)
	}
	if retry {
		_ = msg.NakWithDelay(a.retry.Nth(delivered(msg)))
		return
	}
	if err := a.publish(ctx, e, data); errors.Is(err, deliver.ErrEventTooLarge) || errors.Is(err, publish.ErrRejected) {
		// Never: the objects are kept, the event cannot say so.
		log.Error("the stream refuses the archived event; the objects are kept", zap.Error(err))
		_ = msg.Term()
		return
	} else if err != nil {
		log.Warn("publishing the archived event; will retry", zap.Error(err))
		_ = msg.NakWithDelay(a.retry.Nth(delivered(msg)))
		return
	}
	_ = msg.Ack()
}

func delivered(msg jetstream.Msg) int {
	if md, err := msg.Metadata(); err == nil {
		return max(1, int(md.NumDelivered))
	}
	return 1
}

// publish records the archived event, in the trace of the complete one.
func (a *Archiver) publish(ctx context.Context, e consumer.Event, data event.ArchivedV1) error {
	var tr tracing.Context
	tr.Parent, _ = e.CloudEvent.Extensions()["traceparent"].(string)
	tr.State, _ = e.CloudEvent.Extensions()["tracestate"].(string)
	m, err := a.build.Archived(tr, e.Family, data.TaskID, data)
	if err != nil {
		return err
	}
	if _, err := a.sink.Deliver(ctx, m); err != nil {
		return err
	}
	a.m.ArchiveEvents.Inc()
	return nil
}

// keep stores one file under its object name, once: a file stored before
// (by any replica) is not downloaded again.
func (a *Archiver) keep(ctx context.Context, store jetstream.ObjectStore, msg jetstream.Msg, fam event.Family, taskID string, m event.Media, taskBytes *int64) (event.ArchivedObjectV1, error) {
	name := event.ObjectName(fam, taskID, m)
	obj := event.ArchivedObjectV1{MediaID: m.ID, Kind: m.Kind, URL: m.URL, Status: event.ObjectArchived, Name: name}
	info, err := store.GetInfo(ctx, name)
	switch {
	case err == nil:
		sum, derr := consumer.DigestHex(info.Digest)
		if derr != nil {
			return obj, &Error{Reason: ReasonStore, Err: derr}
		}
		*taskBytes += int64(info.Size)
		a.m.ArchiveDownloads.WithLabelValues("existing").Inc()
		obj.Size, obj.SHA256, obj.ContentType = int64(info.Size), sum, info.Headers.Get("Content-Type")
		return obj, nil
	case !errors.Is(err, jetstream.ErrObjectNotFound):
		return obj, &Error{Reason: ReasonStore, Err: err}
	}
	left := a.cfg.MaxTaskBytes - *taskBytes
	if left <= 0 {
		return obj, refuse(ReasonTaskTooLarge, "the task's files already take %d bytes, archive_max_task_bytes is %d", *taskBytes, a.cfg.MaxTaskBytes)
	}
	if err := a.limiter.Wait(ctx); err != nil {
		return obj, &Error{Reason: ReasonTimeout, Err: err}
	}
	_ = msg.InProgress() // the ack wait starts again: one download's worth

	dctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	d, err := a.fetch.Open(dctx, m.URL, m.Kind)
	if err != nil {
		return obj, err
	}
	defer d.Close()
	body := &reading{r: d.Body, h: sha256.New(), left: left, max: a.cfg.MaxTaskBytes}
	stored, err := store.Put(dctx, jetstream.ObjectMeta{
		Name: name, Description: m.URL,
		Headers: nats.Header{"Content-Type": []string{d.ContentType}},
	}, body)
	if body.err != nil || dctx.Err() != nil { // the download failed; Put removed what it had written
		return obj, classify(dctx, errors.Join(body.err, dctx.Err()))
	}
	if err != nil {
		return obj, &Error{Reason: ReasonStore, Err: err}
	}
	sum := hex.EncodeToString(body.h.Sum(nil))
	if got, err := consumer.DigestHex(stored.Digest); err != nil || got != sum {
		_ = store.Delete(ctx, name)
		return obj, &Error{Reason: ReasonStore, Err: fmt.Errorf("stored digest %q is not the downloaded %s", stored.Digest, sum)}
	}
	*taskBytes += int64(stored.Size)
	a.m.ArchiveDownloads.WithLabelValues("archived").Inc()
	a.m.ArchiveBytes.Add(float64(stored.Size))
	obj.Size, obj.SHA256, obj.ContentType = int64(stored.Size), sum, d.ContentType
	return obj, nil
}

// reading hashes a download as the Object Store reads it, keeps the
// task within its limit and remembers the download's own error (Put's
// errors are the store's otherwise).
type reading struct {
	r         io.Reader
	h         hash.Hash
	left, max int64
	err       error
}

func (r *reading) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	if r.left -= int64(n); r.left < 0 {
		err = refuse(ReasonTaskTooLarge, "the task's files take more than archive_max_task_bytes %d", r.max)
	}
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// watch exports how far behind the archiver is, every few seconds: the
// complete events not archived yet, and the age of the oldest of them
// (the first one past the consumer's acknowledgement floor).
func (a *Archiver) watch(ctx context.Context, cons jetstream.Consumer) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		a.measure(ctx, cons)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Archiver) measure(ctx context.Context, cons jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := cons.Info(ctx)
	if err != nil {
		return
	}
	pending := info.NumPending + uint64(info.NumAckPending)
	a.m.ArchivePending.Set(float64(pending))
	if pending == 0 {
		a.m.ArchiveOldestAge.Set(0)
		return
	}
	st, err := a.js.Stream(ctx, a.cfg.Stream)
	if err != nil {
		return
	}
	var oldest time.Time
	for _, f := range info.Config.FilterSubjects {
		if msg, err := st.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(f)); err == nil && (oldest.IsZero() || msg.Time.Before(oldest)) {
			oldest = msg.Time
		}
	}
	if info.Config.FilterSubject != "" {
		if msg, err := st.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(info.Config.FilterSubject)); err == nil {
			oldest = msg.Time
		}
	}
	if !oldest.IsZero() {
		a.m.ArchiveOldestAge.Set(a.now().Sub(oldest).Seconds())
	}
}
