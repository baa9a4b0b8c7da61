// Package publish stores built events in the JetStream stream: the stream's
// set-up, the publisher contract, and the classification of broker errors
// into "try again later" and "never".
package publish

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
)

// Publisher stores events in the stream.
//
// Implementations are safe for concurrent use. Publish returns a nil error
// only after JetStream acknowledged the event, that is after the stream
// leader stored it (and, for a replicated stream, a quorum of replicas did).
// A duplicate is a success with Result.Duplicate set: the stream already
// holds an event with this id or for this task's stage. Errors wrap
// ErrUnavailable (transient: the same event may succeed later) or
// ErrRejected (the stream will never take this event).
type Publisher interface {
	Publish(ctx context.Context, m outbound.Message) (Result, error)
}

// Result describes an acknowledged publish.
type Result struct {
	Duplicate bool
	Sequence  uint64 // stream sequence; 0 for a duplicate rejected by the per-subject limit
}

var (
	// ErrUnavailable means the stream did not acknowledge in time or could
	// not be reached; publishing the same message again is safe.
	ErrUnavailable = errors.New("stream unavailable")
	// ErrRejected means the stream refused the message for good (too large,
	// wrong stream bound to the subject).
	ErrRejected = errors.New("rejected by the stream")
	// ErrRetrySoon (always with ErrUnavailable) means the connection is up
	// but the stream could not take the message this instant: no leader or
	// quorum during an election, or the same message id being stored by a
	// concurrent publish. Trying again within a second or two usually
	// succeeds (for the latter, as a duplicate).
	ErrRetrySoon = errors.New("stream busy: retry soon")
)

// JetStream publishes to one stream with Nats-Msg-Id set to the event id
// and Nats-Expected-Stream set to the stream name, so a subject bound to a
// different stream is an error instead of a silent write elsewhere.
type JetStream struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	stream string
	binary bool
	// maxPayload is used until the first connect tells the server's.
	maxPayload int64
	streamMax  atomic.Int64 // the stream's max_msg_size; <= 0 for none
}

// HeaderRoom is what MaxEvent leaves for a message's NATS headers.
const HeaderRoom = 4 << 10

// NewJetStream returns a Publisher over nc for the named stream, writing
// events in mode (event.Structured or event.Binary). maxPayload is the
// server's max_payload as configured, assumed until a connect tells it.
func NewJetStream(nc *nats.Conn, stream, mode string, maxPayload int64) (*JetStream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	return &JetStream{nc: nc, js: js, stream: stream, binary: mode == event.Binary, maxPayload: maxPayload}, nil
}

// MaxEvent is the largest event body the stream can ever take: the
// server's max_payload (from its INFO at the last connect, kept through
// outages; the configured value before the first), or the stream's
// max_msg_size when smaller, less HeaderRoom. A larger event is refused by
// the broker for good, so it must be refused before it is answered.
func (p *JetStream) MaxEvent() int64 {
	limit := p.maxPayload
	if mp := p.nc.MaxPayload(); mp > 0 {
		limit = mp
	}
	if s := p.streamMax.Load(); s > 0 {
		limit = min(limit, s)
	}
	return limit - HeaderRoom
}

// Check reports why the stream cannot take events now, or nil: the
// connection is up and the stream answers.
func (p *JetStream) Check(ctx context.Context) error {
	if !p.nc.IsConnected() {
		return fmt.Errorf("nats: %s", p.nc.Status())
	}
	if _, err := p.Stream(ctx); err != nil {
		return fmt.Errorf("stream %s: %w", p.stream, err)
	}
	return nil
}

// LearnStream keeps the stream's max_msg_size for MaxEvent.
func (p *JetStream) LearnStream(cfg jetstream.StreamConfig) { p.streamMax.Store(int64(cfg.MaxMsgSize)) }

// Stream looks the stream up, keeping what MaxEvent needs of its
// configuration.
func (p *JetStream) Stream(ctx context.Context) (jetstream.Stream, error) {
	st, err := p.js.Stream(ctx, p.stream)
	if err == nil {
		p.LearnStream(st.CachedInfo().Config)
	}
	return st, err
}

// JS exposes the JetStream context for stream management and readiness.
func (p *JetStream) JS() jetstream.JetStream { return p.js }

// Publish implements Publisher. The ctx deadline bounds the wait for the ack.
func (p *JetStream) Publish(ctx context.Context, m outbound.Message) (Result, error) {
	msg := nats.NewMsg(m.Subject)
	if p.binary {
		// Messages (and the spool) always hold the structured form; the
		// content mode is only how it goes on the wire.
		header, data, err := event.ToBinary(m.Body)
		if err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrRejected, err)
		}
		for k, v := range header {
			msg.Header.Set(k, v)
		}
		msg.Data = data
	} else {
		msg.Data = m.Body
		msg.Header.Set("Content-Type", event.ContentType)
	}
	// The trace context as a header too, for NATS-level tooling that does
	// not read CloudEvents.
	if m.Trace.Parent != "" {
		msg.Header.Set("traceparent", m.Trace.Parent)
		if m.Trace.State != "" {
			msg.Header.Set("tracestate", m.Trace.State)
		}
	}
	// No retries inside the client: the caller retries within its deadline.
	ack, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(m.ID), jetstream.WithExpectStream(p.stream), jetstream.WithRetryAttempts(0))
	if err == nil {
		return Result{Duplicate: ack.Duplicate, Sequence: ack.Sequence}, nil
	}
	if isPerSubjectDuplicate(err) {
		return p.sameEvent(ctx, m)
	}
	return Result{}, Classify(err)
}

// sameEvent tells the per-subject limit's two cases apart (it is reached
// only after the duplicate window, so rarely): the subject holds this
// event (a late retry: a duplicate), or another event with another id,
// which no retry will replace (rejected; the caller sets it aside).
func (p *JetStream) sameEvent(ctx context.Context, m outbound.Message) (Result, error) {
	st, err := p.Stream(ctx)
	if err != nil {
		return Result{}, Classify(err)
	}
	held, err := st.GetLastMsgForSubject(ctx, m.Subject)
	if err != nil {
		return Result{}, Classify(err)
	}
	if id := held.Header.Get(jetstream.MsgIDHeader); id != m.ID {
		return Result{}, fmt.Errorf("%w: %s holds event %s, not %s", ErrRejected, m.Subject, id, m.ID)
	}
	return Result{Duplicate: true}, nil
}

// perSubjectLimitErr is the description nats-server gives (as a store
// failure, err_code 10077) when discard-new-per-subject refuses a second
// message on a subject that already holds one.
const perSubjectLimitErr = "maximum messages per subject exceeded"

func isPerSubjectDuplicate(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && strings.Contains(apiErr.Description, perSubjectLimitErr)
}

// jsErrDuplicateInProcess is nats-server's 409 "duplicate message id is in
// process": a clustered stream is still storing another publish with this
// id (a provider retry that reached the other bridge at the same time).
const jsErrDuplicateInProcess = 10158

// Classify wraps err in ErrRejected when retrying cannot help and in
// ErrUnavailable otherwise: an unknown error is treated as transient, since
// a needless retry costs less than a lost event.
func Classify(err error) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrDuplicateInProcess:
		return fmt.Errorf("%w: %w: %w", ErrUnavailable, ErrRetrySoon, err)
	case errors.Is(err, nats.ErrMaxPayload),
		errors.Is(err, nats.ErrBadSubject),
		errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500:
		return fmt.Errorf("%w: %w", ErrRejected, err)
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders),
		errors.As(err, &apiErr) && apiErr.Code == 503:
		return fmt.Errorf("%w: %w: %w", ErrUnavailable, ErrRetrySoon, err)
	default:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}

// Captures reports whether the stream's subjects (looked up afresh) take
// subject. A subject no stream captures gets "no responders" for ever,
// which Classify must treat as transient (an election looks the same);
// this tells the two apart.
func (p *JetStream) Captures(ctx context.Context, subject string) (bool, error) {
	st, err := p.Stream(ctx)
	if err != nil {
		return false, fmt.Errorf("publish: %w", err)
	}
	for _, pattern := range st.CachedInfo().Config.Subjects {
		if SubjectMatches(pattern, subject) {
			return true, nil
		}
	}
	return false, nil
}

// SubjectMatches reports whether a literal subject matches a pattern with
// NATS wildcards: "*" is one token, a final ">" one or more.
func SubjectMatches(pattern, subject string) bool {
	pt, st := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range pt {
		switch {
		case tok == ">" && i == len(pt)-1:
			return len(st) > i
		case i >= len(st):
			return false
		case tok != "*" && tok != st[i]:
			return false
		}
	}
	return len(st) == len(pt)
}

// Holds reports whether the stream stores a message on subject, with a
// direct get of the subject's last message.
func (p *JetStream) Holds(ctx context.Context, subject string) (bool, error) {
	st, err := p.Stream(ctx)
	if err != nil {
		return false, fmt.Errorf("publish: %w", err)
	}
	_, err = st.GetLastMsgForSubject(ctx, subject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("publish: %w", err)
	}
	return true, nil
}
