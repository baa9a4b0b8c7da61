// Package deadletter keeps callbacks the bridge refused (4xx) for analytics
// and operators: each goes, raw body capped and rejection reason attached,
// to <prefix>.<reason> in a stream of its own, which can never overlap the
// event subjects.
package deadletter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
)

// Header names on a dead-letter message.
const (
	HeaderReason      = "Vocals-Reject-Reason"
	HeaderError       = "Vocals-Reject-Error"
	HeaderRequestID   = "Vocals-Request-Id"
	HeaderBodySize    = "Vocals-Body-Size"
	HeaderTruncated   = "Vocals-Body-Truncated"
	HeaderReceivedAt  = "Vocals-Received-At"
	HeaderContentType = "Vocals-Content-Type"
)

// Outcomes counted by the Hook.
const (
	OutcomePublished = "published"
	OutcomeDuplicate = "duplicate"
	OutcomeFailed    = "failed"
	OutcomeDropped   = "dropped" // too many in flight
)

// Rejection is a refused callback.
type Rejection struct {
	Reason      string // a fixed token such as "invalid_task_id"
	Error       string
	RequestID   string
	ContentType string
	Body        []byte // as received, possibly partial
	BodySize    int64  // bytes received (or announced, for a body over the limit)
	At          time.Time
}

// StreamSpec is the dead-letter stream.
type StreamSpec struct {
	Name          string
	SubjectPrefix string
	Replicas      int
	MaxAge        time.Duration
	MaxBytes      int64
}

// Config returns the stream configuration: bounded in bytes, oldest
// discarded first, since anyone who finds the callback URL can fill it.
func (s StreamSpec) Config() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        s.Name,
		Description: "vocals-bridge: refused callbacks, raw body and reason",
		Subjects:    []string{s.SubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
		MaxAge:      s.MaxAge,
		MaxBytes:    s.MaxBytes,
		Discard:     jetstream.DiscardOld,
		Duplicates:  30 * time.Minute,
	}
}

// Writer publishes rejections in the background, at most maxInFlight at a
// time; more are dropped and counted rather than slowing the answers.
type Writer struct {
	js      jetstream.JetStream
	spec    StreamSpec
	maxBody int
	timeout time.Duration
	hook    func(outcome string)
	sem     chan struct{}
	wg      sync.WaitGroup
}

// New returns a Writer. maxBody caps the stored body; hook (may be nil)
// counts outcomes.
func New(js jetstream.JetStream, spec StreamSpec, maxBody int, hook func(string)) *Writer {
	if hook == nil {
		hook = func(string) {}
	}
	return &Writer{js: js, spec: spec, maxBody: maxBody, timeout: 2 * time.Second, hook: hook, sem: make(chan struct{}, 64)}
}

// EnsureStream creates or updates the dead-letter stream.
func (w *Writer) EnsureStream(ctx context.Context) error {
	if err := publish.Ensure(ctx, w.js, w.spec.Config()); err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	return nil
}

// Record publishes r in the background and returns at once.
func (w *Writer) Record(r Rejection) {
	select {
	case w.sem <- struct{}{}:
	default:
		w.hook(OutcomeDropped)
		return
	}
	w.wg.Add(1)
	go func() {
		defer func() { <-w.sem; w.wg.Done() }()
		ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
		defer cancel()
		w.hook(w.publish(ctx, r))
	}()
}

func (w *Writer) publish(ctx context.Context, r Rejection) string {
	body := r.Body
	if len(body) > w.maxBody {
		body = body[:w.maxBody]
	}
	truncated := int64(len(body)) < r.BodySize // capped here, or never read in full
	m := nats.NewMsg(w.spec.SubjectPrefix + "." + r.Reason)
	m.Data = body
	m.Header.Set(HeaderReason, r.Reason)
	m.Header.Set(HeaderError, clip(r.Error, 512))
	m.Header.Set(HeaderRequestID, r.RequestID)
	m.Header.Set(HeaderContentType, clip(r.ContentType, 128))
	m.Header.Set(HeaderBodySize, strconv.FormatInt(r.BodySize, 10))
	m.Header.Set(HeaderTruncated, strconv.FormatBool(truncated))
	m.Header.Set(HeaderReceivedAt, r.At.UTC().Format(time.RFC3339Nano))
	// The same refused request retried by the provider is kept once.
	sum := sha256.Sum256(append([]byte(r.Reason+"\x00"+r.ContentType+"\x00"), r.Body...))
	ack, err := w.js.PublishMsg(ctx, m, jetstream.WithMsgID(hex.EncodeToString(sum[:])), jetstream.WithExpectStream(w.spec.Name))
	switch {
	case err != nil:
		return OutcomeFailed
	case ack.Duplicate:
		return OutcomeDuplicate
	}
	return OutcomePublished
}

// Wait blocks until every background publish has finished.
func (w *Writer) Wait() { w.wg.Wait() }

// clip keeps header values short and on one line.
func clip(s string, n int) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '\r' || r == '\n' {
			r = ' '
		}
		out = append(out, r)
		if len(out) >= n {
			break
		}
	}
	return string(out)
}
