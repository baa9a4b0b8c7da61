// Package httpapi is the bridge's HTTP surface: the public listener that
// takes provider callbacks (and serves the event schemas), the admin
// listener with health, readiness and metrics, and the submit proxy's
// listener. Each callback goes gate -> read -> peek -> verify -> decode ->
// build -> deliver -> answer in callbackHandler.serve.
package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deadletter"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/verify"
)

// SchemaPrefix is where the event schemas are served.
const SchemaPrefix = "/schemas"

// PublicDeps are what the public listener needs.
type PublicDeps struct {
	Log     *zap.Logger
	Metrics *metrics.Metrics
	Builder *cloudevent.Builder
	Sink    deliver.Sink
	// Families are the enabled families: each has its route.
	Families []family.Family
	// BodyLimit is the largest accepted body in bytes; larger gets 413.
	BodyLimit int64
	// RetryAfter is sent with 503 answers.
	RetryAfter time.Duration
	// Schemas is served read-only under SchemaPrefix, each $id naming
	// where it is served: SchemaBase (the events' dataschema base) in
	// place of event.SchemaIDBase.
	Schemas    fs.FS
	SchemaBase string
	// DeadLetter keeps refused callbacks; nil disables that.
	DeadLetter DeadLetter
	// Verifier checks the source; nil (or one with nothing configured)
	// accepts every source.
	Verifier *verify.Verifier
	// Guard are the abuse limits in front of the callback route.
	Guard GuardConfig
	// Tasks, if set, hears of every recorded callback event, so task
	// tracking can end on a terminal stage.
	Tasks TaskObserver
}

// TaskObserver hears of recorded callback events: stored is false for a
// duplicate. It must not block.
type TaskObserver interface {
	Observe(fam event.Family, taskID string, stage event.Stage, stored bool)
}

// DeadLetter records a refused callback without blocking the answer;
// *deadletter.Writer is the real one.
type DeadLetter interface {
	Record(deadletter.Rejection)
}

// NewPublic returns the public listener's handler: POST
// /callbacks/<family> for each enabled family (and
// /callbacks/<family>/<token> when a token is configured) and
// GET /schemas/..., nothing else.
func NewPublic(d PublicDeps) *echo.Echo {
	e := newEcho(d.Log, d.Metrics, "public")
	h := &callbackHandler{d: d, g: newGate(d.Guard, d.Metrics)}
	for _, f := range d.Families {
		serve := func(c echo.Context) error { return h.traced(c, f) }
		e.POST(f.Path(), serve)
		if d.Verifier != nil && d.Verifier.TokenRequired() {
			// The token may be the last path segment, for providers whose
			// callBackUrl cannot carry a query.
			e.POST(f.Path()+"/:token", serve)
		}
	}
	schemas := http.StripPrefix(SchemaPrefix, http.FileServer(http.FS(d.Schemas)))
	e.GET(SchemaPrefix+"/*", echo.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/schema+json")
		name := strings.TrimPrefix(r.URL.Path, SchemaPrefix+"/")
		raw, err := fs.ReadFile(d.Schemas, name)
		if d.SchemaBase == "" || !strings.HasSuffix(name, ".json") || err != nil {
			schemas.ServeHTTP(w, r) // listings, 404s
			return
		}
		_, _ = w.Write(servedSchema(raw, d.SchemaBase))
	})))
	return e
}

// servedSchema is raw with its $id under base instead of
// event.SchemaIDBase: the URL it is served at, the one events name as
// their dataschema, so a validator that fetches it resolves relative $refs
// against the bridge too.
func servedSchema(raw []byte, base string) []byte {
	from := []byte(`"$id": "` + event.SchemaIDBase + "/")
	to := []byte(`"$id": "` + strings.TrimSuffix(base, "/") + "/")
	return bytes.Replace(raw, from, to, 1)
}

// Answer is the JSON body of a 200 answer.
type Answer struct {
	Status    string `json:"status"` // always "received"
	EventID   string `json:"event_id"`
	Subject   string `json:"subject"`
	Stage     string `json:"stage"`
	Duplicate bool   `json:"duplicate"`
	// Spooled is true when the event waits in the local spool: it is
	// durably recorded and will reach the stream when JetStream is back.
	Spooled bool `json:"spooled"`
}

type callbackHandler struct {
	d PublicDeps
	g *gate
}

var (
	errTooLarge    = errors.New("body exceeds the size limit")
	errContentType = errors.New("Content-Type must be application/json")
)

// errReadTimeout is a body that did not arrive in time: slower than the
// minimum rate, or past read_timeout.
type errReadTimeout struct{ err error }

func (e errReadTimeout) Error() string { return "body did not arrive in time: " + e.err.Error() }
func (e errReadTimeout) Unwrap() error { return e.err }

// traced runs serve inside the request's server span, continuing the
// trace of an incoming traceparent. Its attributes name the route, never
// the path: a token may be in it.
func (h *callbackHandler) traced(c echo.Context, f family.Family) error {
	req := c.Request()
	if !tracing.Active() && req.Header["Traceparent"] == nil {
		return h.serve(c, f) // nothing to record and nothing to pass on
	}
	ctx := tracing.Propagator.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
	ctx, span := tracing.Start(ctx, "POST "+f.Path(), trace.WithSpanKind(trace.SpanKindServer))
	if span.IsRecording() {
		span.SetAttributes(semconv.HTTPRequestMethodPost, semconv.HTTPRoute(f.Path()), tracing.Family.String(string(f.Name)))
	}
	c.SetRequest(req.WithContext(ctx))
	err := h.serve(c, f)
	if span.IsRecording() {
		status := c.Response().Status
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
	span.End()
	return err
}

func (h *callbackHandler) serve(c echo.Context, f family.Family) error {
	start := time.Now()
	req := c.Request()
	// A field on each line rather than Log.With: With copies the encoder
	// for every request, and most requests log once.
	log, rid := h.d.Log, zap.String("request_id", requestID(c))
	ip := ClientIP(req, h.g.cfg.TrustedProxies)
	fam := f.Name
	if refused, err := h.g.admit(c, fam, ip, start); refused {
		return err
	}

	vreq := verify.Request{Header: req.Header, Token: c.Param("token"), Route: string(fam), Now: start}
	if vreq.Token == "" {
		vreq.Token = c.QueryParam("token")
	}
	// Headers and token first: an unauthenticated body is not even read.
	var err error
	if h.d.Verifier != nil {
		err = h.d.Verifier.CheckEarly(vreq)
	}
	var (
		body []byte
		size int64
		cb   callback.Callback
		sum  [sha256.Size]byte // of the body, for the replay cache and the event
	)
	if err == nil {
		// A body is read under a slot of its source's, not one of the
		// in-flight slots: a slow sender holds only its own.
		if !h.g.readers.acquire(ip) {
			return h.g.refuse(c, fam, http.StatusTooManyRequests, "source_busy", "too many bodies from this address are still arriving")
		}
		body, size, err = h.read(c, start)
		h.g.readers.release(ip)
	}
	if err == nil && h.g.inFlight != nil {
		select {
		case h.g.inFlight <- struct{}{}:
			defer func() { <-h.g.inFlight }()
		default:
			return h.g.refuse(c, fam, http.StatusServiceUnavailable, "overloaded", "too many callbacks in flight")
		}
	}
	// The signature before the body is decoded in full: Peek bounds what
	// the body may cost and finds the task id the provider signs.
	var peeked callback.Peeked
	if err == nil {
		peeked, err = f.Kind.Peek(body)
	}
	if err == nil {
		sum = sha256.Sum256(body)
	}
	ctx := req.Context()
	if err == nil && h.d.Verifier != nil {
		vreq.Body, vreq.BodySum, vreq.TaskID = body, sum, peeked.TaskID
		if h.d.Verifier.Enabled() {
			_, span := tracing.Start(ctx, "verify")
			err = h.d.Verifier.Verify(vreq)
			tracing.End(span, err)
		} else {
			err = h.d.Verifier.Verify(vreq)
		}
	}
	if err == nil {
		_, span := tracing.Start(ctx, "decode")
		cb, err = f.Kind.Decode(peeked, fam)
		tracing.End(span, err)
	}
	server := trace.SpanFromContext(ctx)
	if err != nil {
		return h.reject(c, fam, log, rid, ip, err, start, body, size)
	}
	if server.IsRecording() {
		server.SetAttributes(tracing.TaskID.String(cb.TaskID), tracing.Stage.String(string(cb.Stage)))
	}

	msg, err := h.d.Builder.Build(cb, cloudevent.Source{Sum: sum, Trace: tracing.From(ctx)})
	if err != nil {
		log.Error("building event", rid, zap.String("family", string(fam)), zap.String("task_id", cb.TaskID), zap.Error(err))
		h.d.Metrics.CallbacksReceived.WithLabelValues(string(fam), string(cb.Stage), metrics.OutcomeFailed).Inc()
		return c.JSON(http.StatusInternalServerError, errorBody("internal", "could not build the event"))
	}

	// The answer depends only on the broker and the disk, not on the
	// provider staying connected: a vanished client must not abort a
	// delivery half-way.
	res, err := h.d.Sink.Deliver(context.WithoutCancel(ctx), msg)
	if errors.Is(err, deliver.ErrEventTooLarge) || errors.Is(err, publish.ErrRejected) {
		// Retrying cannot help: refused, with the body dead-lettered.
		return h.reject(c, fam, log, rid, ip, err, start, body, size)
	}

	outcome := string(res.Outcome)
	if err != nil {
		outcome = metrics.OutcomeFailed
	}
	if res.Published > 0 {
		pubOutcome := outcome
		if res.PublishErr != nil || err != nil {
			pubOutcome = metrics.OutcomeFailed
		}
		metrics.Observe(ctx, h.d.Metrics.PublishDuration.WithLabelValues(pubOutcome), res.Published.Seconds())
	}
	h.d.Metrics.CallbacksReceived.WithLabelValues(string(fam), string(cb.Stage), outcome).Inc()
	if server.IsRecording() {
		server.SetAttributes(tracing.Outcome.String(outcome))
	}
	fields := []zap.Field{
		rid,
		zap.String("family", string(fam)),
		zap.String("task_id", cb.TaskID),
		zap.String("stage", string(cb.Stage)),
		zap.Int("code", cb.Code),
		zap.String("event_id", msg.ID),
		zap.String("outcome", outcome),
		zap.Duration("latency", time.Since(start)),
	}
	if res.PublishErr != nil {
		fields = append(fields, zap.NamedError("publish_error", res.PublishErr))
	}
	if err != nil {
		log.Warn("callback", append(fields, zap.Error(err))...)
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(h.d.RetryAfter.Seconds())))
		if errors.Is(err, deliver.ErrSpoolFull) {
			h.d.Metrics.SpoolFull.Inc()
			log.Error("spool full: callback refused", rid, zap.String("family", string(fam)), zap.String("task_id", cb.TaskID), zap.String("stage", string(cb.Stage)))
			return c.JSON(http.StatusServiceUnavailable, errorBody("spool_full", "the stream is unavailable and the local spool is full; retry later"))
		}
		return c.JSON(http.StatusServiceUnavailable, errorBody("publish_failed", "the event could not be stored; retry later"))
	}
	log.Info("callback", fields...)
	if h.d.Tasks != nil {
		h.d.Tasks.Observe(fam, cb.TaskID, cb.Stage, res.Outcome != deliver.Duplicate)
	}
	a := Answer{
		Status: "received", EventID: msg.ID, Subject: msg.Subject, Stage: string(cb.Stage),
		Duplicate: res.Outcome == deliver.Duplicate, Spooled: res.Spooled,
	}
	return c.JSON(http.StatusOK, a)
}

// read returns the body (all of it, or what arrived before an error) and
// its size, refusing a body over the limit and a Content-Type other than
// JSON. A body announced as too large is not read at all. With a minimum
// rate, the connection's read deadline moves ahead only as bytes arrive.
func (h *callbackHandler) read(c echo.Context, start time.Time) ([]byte, int64, error) {
	req := c.Request()
	if req.ContentLength > h.d.BodyLimit {
		return nil, req.ContentLength, fmt.Errorf("%w of %d bytes (%d announced)", errTooLarge, h.d.BodyLimit, req.ContentLength)
	}
	// Sized from Content-Length when there is one, but at most 64 KiB up
	// front, so a client announcing a large body it never sends cannot
	// make every request being read hold body_limit bytes.
	var buf bytes.Buffer
	if req.ContentLength > 0 {
		buf.Grow(int(min(req.ContentLength, 64<<10)) + bytes.MinRead)
	}
	var r io.Reader = req.Body
	if h.g.cfg.MinBodyRate > 0 {
		p := &pacedReader{r: req.Body, rc: http.NewResponseController(c.Response()), cfg: &h.g.cfg, start: start}
		if err := p.rc.SetReadDeadline(p.deadline()); err == nil {
			r = p
			// Done reading: the server's own timeouts apply again.
			defer func() { _ = p.rc.SetReadDeadline(time.Time{}) }()
		}
	}
	_, err := buf.ReadFrom(io.LimitReader(r, h.d.BodyLimit+1))
	body := buf.Bytes()
	size := int64(len(body))
	switch {
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		return body, size, errReadTimeout{err}
	case err != nil:
		return body, size, err
	case size > h.d.BodyLimit:
		return body, size, fmt.Errorf("%w of %d bytes", errTooLarge, h.d.BodyLimit)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return body, size, errContentType
		}
	}
	return body, size, nil
}

// pacedReader moves the connection's read deadline ahead as bytes arrive:
// a body must keep an average of MinBodyRate once BodyReadGrace is over,
// and take no longer than ReadTimeout in all.
type pacedReader struct {
	r     io.Reader
	rc    *http.ResponseController
	cfg   *GuardConfig
	start time.Time
	n     int64
}

func (p *pacedReader) deadline() time.Time {
	d := p.cfg.BodyReadGrace + time.Duration(float64(p.n)/float64(p.cfg.MinBodyRate)*float64(time.Second))
	if p.cfg.ReadTimeout > 0 {
		d = min(d, p.cfg.ReadTimeout)
	}
	return p.start.Add(d)
}

func (p *pacedReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.n += int64(n)
		_ = p.rc.SetReadDeadline(p.deadline())
	}
	return n, err
}

// reject answers a request that can never become an event. This is the one
// place that maps input errors to status codes and reasons.
func (h *callbackHandler) reject(c echo.Context, fam event.Family, log *zap.Logger, rid zap.Field, ip netip.Addr, err error, start time.Time, body []byte, size int64) error {
	// Only refused requests spend their source's budget.
	h.g.charge(ip, start)
	status, reason := http.StatusBadRequest, ""
	var (
		cbErr   *callback.Error
		vErr    *verify.Error
		timeout errReadTimeout
	)
	switch {
	case errors.As(err, &vErr):
		status, reason = http.StatusUnauthorized, string(vErr.Reason)
	case errors.As(err, &cbErr):
		reason = string(cbErr.Reason)
	case errors.Is(err, errTooLarge):
		status, reason = http.StatusRequestEntityTooLarge, "body_too_large"
	case errors.Is(err, errContentType):
		status, reason = http.StatusUnsupportedMediaType, "unsupported_media_type"
	case errors.As(err, &timeout):
		status, reason = http.StatusRequestTimeout, "read_timeout"
		c.Response().Header().Set("Connection", "close")
	case errors.Is(err, deliver.ErrEventTooLarge):
		status, reason = http.StatusRequestEntityTooLarge, "event_too_large"
	case errors.Is(err, publish.ErrRejected):
		// The stream refuses this event for good (its subject holds another
		// event, or is bound to another stream).
		status, reason = http.StatusConflict, "event_rejected"
	default: // the client broke off or timed out while sending
		reason = "unreadable_body"
	}
	if span := trace.SpanFromContext(c.Request().Context()); span.IsRecording() {
		span.SetAttributes(tracing.Outcome.String(metrics.OutcomeRejected), tracing.Reason.String(reason))
	}
	h.d.Metrics.CallbacksRejected.WithLabelValues(string(fam), reason).Inc()
	h.d.Metrics.CallbacksReceived.WithLabelValues(string(fam), metrics.StageUnknown, metrics.OutcomeRejected).Inc()
	log.Info("callback rejected", rid, zap.String("family", string(fam)), zap.String("reason", reason), zap.Error(err),
		zap.Duration("latency", time.Since(start)))
	// Refused input goes to the dead letters; unauthenticated requests do
	// not, or anyone could fill that stream.
	if h.d.DeadLetter != nil && vErr == nil {
		h.d.DeadLetter.Record(deadletter.Rejection{
			Reason: reason, Family: string(fam), Error: err.Error(), RequestID: requestID(c),
			ContentType: c.Request().Header.Get("Content-Type"), Body: body, BodySize: size, At: start,
		})
	}
	return c.JSON(status, errorBody(reason, err.Error()))
}
