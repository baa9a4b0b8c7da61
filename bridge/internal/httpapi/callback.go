package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"os"
	"strconv"
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
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/verify"
)

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
	d       PublicDeps
	g       *gate
	enabled map[event.Family]bool
}

// request is one callback on its way through serve: what fail and the
// answer need to say, count and log about it.
type request struct {
	c     echo.Context
	f     family.Family
	off   bool // the family is disabled: verified, then kept as a dead letter
	start time.Time
	ip    netip.Addr
	rid   zap.Field
	body  []byte // as much as arrived
	size  int64
	// taskID is known once peeked; the rest once decoded: what the log
	// lines, metrics and dead letters name.
	taskID  string
	decoded bool
	cb      callback.Callback
	stage   event.Stage
	code    int
}

// The errors of the pipeline itself; verify, callback, deliver and publish
// have their own.
var (
	errTooLarge    = errors.New("body exceeds the size limit")
	errContentType = errors.New("Content-Type must be application/json")
	errUnreadable  = errors.New("the body could not be read")
	errBuild       = errors.New("could not build the event")
	errDisabled    = errors.New("this family is turned off (disabled_families); the callback is kept as a dead letter")
)

// errReadTimeout is a body that did not arrive in time: slower than the
// minimum rate, or past read_timeout.
type errReadTimeout struct{ err error }

func (e errReadTimeout) Error() string { return "body did not arrive in time: " + e.err.Error() }
func (e errReadTimeout) Unwrap() error { return e.err }

// errDeliver is a delivery that failed: JetStream did not take the event
// and the spool could not either.
type errDeliver struct{ err error }

func (e errDeliver) Error() string { return e.err.Error() }
func (e errDeliver) Unwrap() error { return e.err }

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

// serve is the callback pipeline: admit the source, check the headers,
// read the body, take an in-flight slot, peek, verify the signature,
// decode, build, deliver, answer. Every failure goes to fail.
func (h *callbackHandler) serve(c echo.Context, f family.Family) error {
	req := c.Request()
	ctx := req.Context()
	// A field on each line rather than Log.With: With copies the encoder
	// for every request, and most requests log once.
	r := &request{c: c, f: f, off: !h.enabled[f.Name], start: time.Now(), rid: zap.String("request_id", requestID(c))}
	r.ip = addr(c.RealIP())
	if err := h.g.admit(r.ip, r.start); err != nil {
		return h.fail(r, err)
	}
	vreq := verify.Request{Header: req.Header, Token: c.Param("token"), Route: string(f.Name), Now: r.start}
	if vreq.Token == "" {
		vreq.Token = c.QueryParam("token")
	}
	// Headers and token first: an unauthenticated body is not even read.
	if h.d.Verifier != nil {
		if err := h.d.Verifier.CheckEarly(vreq); err != nil {
			return h.fail(r, err)
		}
	}
	// A body is read under a slot of its source's, not one of the
	// in-flight slots: a slow sender holds only its own.
	if err := h.g.readers.acquire(r.ip); err != nil {
		return h.fail(r, err)
	}
	var err error
	r.body, r.size, err = h.read(c, r.start)
	h.g.readers.release(r.ip)
	if err != nil {
		return h.fail(r, err)
	}
	leave, err := h.g.enter()
	if err != nil {
		return h.fail(r, err)
	}
	defer leave()
	msg, res, err := h.process(ctx, r, vreq)
	if errors.As(err, new(errDeliver)) {
		return h.fail(r, err, zap.String("event_id", msg.ID), zap.NamedError("publish_error", res.PublishErr))
	}
	if err != nil {
		return h.fail(r, err)
	}
	if r.off {
		return h.fail(r, errDisabled)
	}
	cb := r.cb
	server := trace.SpanFromContext(ctx)
	outcome := string(res.Outcome)
	h.d.Metrics.CallbacksReceived.WithLabelValues(string(f.Name), string(cb.Stage), outcome).Inc()
	if server.IsRecording() {
		server.SetAttributes(tracing.Outcome.String(outcome))
	}
	h.d.Log.Info("callback", r.rid, zap.String("family", string(f.Name)), zap.String("task_id", cb.TaskID),
		zap.String("stage", string(cb.Stage)), zap.Int("code", cb.Code), zap.String("event_id", msg.ID),
		zap.String("outcome", outcome), zap.Duration("latency", time.Since(r.start)), zap.NamedError("publish_error", res.PublishErr))
	return c.JSON(http.StatusOK, Answer{
		Status: "received", EventID: msg.ID, Subject: msg.Subject, Stage: string(cb.Stage),
		Duplicate: res.Outcome == deliver.Duplicate, Spooled: res.Spooled,
	})
}

// process makes the event of a read body and delivers it: peek, verify,
// decode, build, deliver. serve and Redrive share it. r learns the task
// id and, once decoded, the callback.
func (h *callbackHandler) process(ctx context.Context, r *request, vreq verify.Request) (outbound.Message, deliver.Result, error) {
	// Peek bounds what the body may cost and finds the task id the
	// provider signs, before the signature is checked and the body decoded.
	peeked, err := r.f.Kind.Peek(r.body)
	if err != nil {
		return outbound.Message{}, deliver.Result{}, err
	}
	r.taskID = peeked.TaskID
	sum := sha256.Sum256(r.body)
	if err := h.verify(ctx, vreq, r.body, sum, peeked.TaskID); err != nil {
		return outbound.Message{}, deliver.Result{}, err
	}
	if r.off {
		return outbound.Message{}, deliver.Result{}, nil // kept as a dead letter by the caller
	}
	_, span := tracing.Start(ctx, "decode")
	cb, err := r.f.Kind.Decode(peeked, r.f.Name)
	tracing.End(span, err)
	if err != nil {
		return outbound.Message{}, deliver.Result{}, err
	}
	r.decoded, r.cb, r.taskID, r.stage, r.code = true, cb, cb.TaskID, cb.Stage, cb.Code
	if server := trace.SpanFromContext(ctx); server.IsRecording() {
		server.SetAttributes(tracing.TaskID.String(cb.TaskID), tracing.Stage.String(string(cb.Stage)))
	}
	msg, err := h.d.Builder.Build(cb, cloudevent.Source{Sum: sum, Trace: tracing.From(ctx)})
	if err != nil {
		return msg, deliver.Result{}, fmt.Errorf("%w: %w", errBuild, err)
	}
	// The answer depends only on the broker and the disk, not on the
	// provider staying connected: a vanished client must not abort a
	// delivery half-way.
	res, err := h.d.Sink.Deliver(context.WithoutCancel(ctx), msg)
	if res.Published > 0 {
		outcome := string(res.Outcome)
		if res.PublishErr != nil || err != nil {
			outcome = metrics.OutcomeFailed
		}
		metrics.Observe(ctx, h.d.Metrics.PublishDuration.WithLabelValues(outcome), res.Published.Seconds())
	}
	if err != nil {
		return msg, res, errDeliver{err}
	}
	if h.d.Tasks != nil {
		h.d.Tasks.Observe(r.f.Name, cb.TaskID, cb.Stage, res.Outcome != deliver.Duplicate)
	}
	return msg, res, nil
}

// verify checks the signature (and the replay cache) over the whole
// request, in a span when verification is on.
func (h *callbackHandler) verify(ctx context.Context, vreq verify.Request, body []byte, sum [sha256.Size]byte, taskID string) error {
	if h.d.Verifier == nil {
		return nil
	}
	vreq.Body, vreq.BodySum, vreq.TaskID = body, sum, taskID
	if !h.d.Verifier.Enabled() {
		return h.d.Verifier.Verify(vreq)
	}
	_, span := tracing.Start(ctx, "verify")
	err := h.d.Verifier.Verify(vreq)
	tracing.End(span, err)
	return err
}

// fields are what every log line of r names.
func (r *request) fields() []zap.Field {
	out := []zap.Field{r.rid, zap.String("family", string(r.f.Name))}
	if r.taskID != "" {
		out = append(out, zap.String("task_id", r.taskID))
	}
	if r.decoded {
		out = append(out, zap.String("stage", string(r.stage)), zap.Int("code", r.code))
	}
	return out
}

// ReasonFamilyDisabled refuses a callback to a family that is turned off;
// it is kept as a dead letter, to be redriven once the family is on.
const ReasonFamilyDisabled = "family_disabled"

// Kinds of failure, by what the answer does about them.
const (
	turnedAway   = iota // by the gate, before the body: counted, not logged
	refusedInput        // can never become an event: charged to its source, logged, dead-lettered
	unavailable         // the event could not be stored: the provider retries
	internal            // the bridge's own fault
)

// verdict is what an error makes of the answer.
type verdict struct {
	kind   int
	status int
	reason string
}

// verdictOf is the one map from a pipeline error to its answer: status,
// reason and kind (which decides the counting, the log line, the
// dead letter and Retry-After).
func verdictOf(err error) verdict {
	var (
		refused *refusal
		vErr    *verify.Error
		cbErr   *callback.Error
		timeout errReadTimeout
	)
	switch {
	case errors.As(err, &refused):
		return verdict{turnedAway, refused.status, refused.reason}
	case errors.As(err, &vErr):
		return verdict{refusedInput, http.StatusUnauthorized, string(vErr.Reason)}
	case errors.As(err, &cbErr):
		return verdict{refusedInput, http.StatusBadRequest, string(cbErr.Reason)}
	case errors.Is(err, errTooLarge):
		return verdict{refusedInput, http.StatusRequestEntityTooLarge, "body_too_large"}
	case errors.Is(err, errContentType):
		return verdict{refusedInput, http.StatusUnsupportedMediaType, "unsupported_media_type"}
	case errors.As(err, &timeout):
		return verdict{refusedInput, http.StatusRequestTimeout, "read_timeout"}
	case errors.Is(err, errUnreadable): // the client broke off or timed out while sending
		return verdict{refusedInput, http.StatusBadRequest, "unreadable_body"}
	case errors.Is(err, deliver.ErrEventTooLarge):
		return verdict{refusedInput, http.StatusRequestEntityTooLarge, "event_too_large"}
	case errors.Is(err, publish.ErrRejected):
		// The stream refuses this event for good (its subject holds another
		// event, or is bound to another stream).
		return verdict{refusedInput, http.StatusConflict, "event_rejected"}
	case errors.Is(err, deliver.ErrSpoolFull):
		return verdict{unavailable, http.StatusServiceUnavailable, "spool_full"}
	case errors.Is(err, errDisabled):
		return verdict{refusedInput, http.StatusNotFound, ReasonFamilyDisabled}
	case errors.Is(err, errBuild):
		return verdict{internal, http.StatusInternalServerError, "internal"}
	}
	return verdict{unavailable, http.StatusServiceUnavailable, "publish_failed"}
}

// fail answers r with what err makes of it (verdictOf), and counts, logs
// and dead-letters it as its kind asks. extra are logged with it.
func (h *callbackHandler) fail(r *request, err error, extra ...zap.Field) error {
	v := verdictOf(err)
	fam := string(r.f.Name)
	c := r.c
	if span := trace.SpanFromContext(c.Request().Context()); span.IsRecording() {
		outcome := metrics.OutcomeRejected
		if v.kind == unavailable || v.kind == internal {
			outcome = metrics.OutcomeFailed
		}
		span.SetAttributes(tracing.Outcome.String(outcome), tracing.Reason.String(v.reason))
	}
	msg := err.Error()
	switch v.kind {
	case turnedAway:
		h.d.Metrics.CallbacksRejected.WithLabelValues(fam, v.reason).Inc()
		h.d.Metrics.CallbacksReceived.WithLabelValues(fam, metrics.StageUnknown, metrics.OutcomeRejected).Inc()
		if v.status != http.StatusForbidden {
			c.Response().Header().Set("Retry-After", h.g.retryAfter)
		}
	case refusedInput:
		h.g.charge(r.ip, r.start) // only refused requests spend their source's budget
		h.d.Metrics.CallbacksRejected.WithLabelValues(fam, v.reason).Inc()
		h.d.Metrics.CallbacksReceived.WithLabelValues(fam, metrics.StageUnknown, metrics.OutcomeRejected).Inc()
		h.d.Log.Info("callback rejected", append(r.fields(), zap.String("reason", v.reason), zap.Error(err),
			zap.Duration("latency", time.Since(r.start)))...)
		if v.status == http.StatusRequestTimeout {
			c.Response().Header().Set("Connection", "close")
		}
		// Refused input that was read goes to the dead letters, with what a
		// redrive needs: its signature headers (a wrong key is fixed, then
		// the callback redriven). A replayed signature is an attack, not a
		// mistake to recover from.
		var vErr *verify.Error
		replay := errors.As(err, &vErr) && vErr.Reason == verify.ReasonReplay
		if h.d.DeadLetter != nil && (r.body != nil || r.size > 0) && !replay {
			h.d.DeadLetter.Record(deadletter.Rejection{
				Reason: v.reason, Family: fam, Error: msg, RequestID: requestID(c),
				ContentType: c.Request().Header.Get("Content-Type"), Body: r.body, BodySize: r.size, At: r.start,
				TaskID: r.taskID, Header: verify.SignatureHeaders(c.Request().Header),
			})
		}
	case unavailable:
		h.d.Metrics.CallbacksReceived.WithLabelValues(fam, string(r.stage), metrics.OutcomeFailed).Inc()
		h.d.Log.Warn("callback", append(append(r.fields(), zap.String("outcome", metrics.OutcomeFailed),
			zap.Duration("latency", time.Since(r.start)), zap.Error(err)), extra...)...)
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(h.d.RetryAfter.Seconds())))
		msg = "the event could not be stored; retry later"
		if v.reason == "spool_full" {
			h.d.Metrics.SpoolFull.Inc()
			h.d.Log.Error("spool full: callback refused", r.fields()...)
			msg = "the stream is unavailable and the local spool is full; retry later"
		}
	case internal:
		h.d.Metrics.CallbacksReceived.WithLabelValues(fam, string(r.stage), metrics.OutcomeFailed).Inc()
		h.d.Log.Error("building event", append(r.fields(), zap.Error(err))...)
		msg = errBuild.Error()
	}
	return c.JSON(v.status, errorBody(v.reason, msg))
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
		return body, size, fmt.Errorf("%w: %w", errUnreadable, err)
	case size > h.d.BodyLimit:
		return body, size, fmt.Errorf("%w of %d bytes", errTooLarge, h.d.BodyLimit)
	}
	if !jsonType(req.Header.Get("Content-Type")) {
		return body, size, errContentType
	}
	return body, size, nil
}

// jsonType reports whether a Content-Type is application/json, with
// parameters or without.
func jsonType(ct string) bool {
	if ct == "application/json" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
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
