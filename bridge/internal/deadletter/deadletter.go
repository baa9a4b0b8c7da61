// Package deadletter keeps callbacks the bridge refused (4xx) for analytics
// and operators: each goes, with its body (capped), its signature headers
// and the reason attached, to <prefix>.<reason>.<family>.<task_id> in a
// stream of its own, which can never overlap the event subjects. What a
// redrive needs is kept (never the URL token); Store reads dead letters
// back and marks the ones redriven.
package deadletter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/backoff"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
)

// Header names on a dead-letter message.
const (
	HeaderReason      = "Vocals-Reject-Reason"
	HeaderFamily      = "Vocals-Family" // the route's family, such as vocals or lyrics
	HeaderError       = "Vocals-Reject-Error"
	HeaderRequestID   = "Vocals-Request-Id"
	HeaderBodySize    = "Vocals-Body-Size"
	HeaderTruncated   = "Vocals-Body-Truncated"
	HeaderReceivedAt  = "Vocals-Received-At"
	HeaderContentType = "Vocals-Content-Type"
	HeaderTaskID      = "Vocals-Task-Id"
	// HeaderOriginal prefixes each of the request's signature headers.
	HeaderOriginal = "Vocals-Original-"
)

// NoTask is the subject token of a dead letter whose task id is unknown
// (the body was refused before it was read that far).
const NoTask = "_"

// Outcomes counted by the Hook.
const (
	OutcomePublished = "published"
	OutcomeDuplicate = "duplicate"
	OutcomeFailed    = "failed"  // the stream refused it for good
	OutcomeDropped   = "dropped" // pushed out of a full queue, or left at shutdown
)

// Rejection is a refused callback.
type Rejection struct {
	Reason      string // a fixed token such as "invalid_task_id"
	Family      string // the callback route's family
	Error       string
	RequestID   string
	ContentType string
	Body        []byte // as received, possibly partial
	BodySize    int64  // bytes received (or announced, for a body over the limit)
	At          time.Time
	// TaskID is the body's task id when it was read that far.
	TaskID string
	// Header are the request's signature headers, kept for a redrive.
	Header http.Header
}

// Subject is where a dead letter of reason, family and task goes.
func (s StreamSpec) Subject(reason, family, taskID string) string {
	return s.SubjectPrefix + "." + reason + "." + token(family) + "." + token(taskID)
}

// token is s when it can stand as one subject token, else NoTask.
func token(s string) string {
	if !event.ValidTaskID(s) {
		return NoTask
	}
	return s
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

// Writer queues rejections in memory, at most queueBytes of them, and
// publishes them in order from one background goroutine. While the stream
// cannot be reached the queue waits and the head is retried with backoff,
// so what is refused during a NATS outage reaches the stream when it is
// back. A full queue drops its oldest entry (counted), as the stream
// itself discards its oldest: the newest refusals are the informative
// ones. Record never blocks the answer.
type Writer struct {
	js       jetstream.JetStream
	spec     StreamSpec
	maxBody  int
	maxQueue int64
	timeout  time.Duration
	hook     func(outcome string)

	mu     sync.Mutex
	queue  []queued
	bytes  int64
	nextID uint64
	wake   chan struct{}
	ctx    context.Context
	stop   context.CancelFunc
	done   chan struct{}
}

type queued struct {
	seq   uint64
	msg   *nats.Msg
	msgID string
	size  int64
}

// New returns a running Writer. maxBody caps a stored body, queueBytes
// the queue; hook (may be nil) counts outcomes.
func New(js jetstream.JetStream, spec StreamSpec, maxBody int, queueBytes int64, hook func(string)) *Writer {
	if hook == nil {
		hook = func(string) {}
	}
	ctx, stop := context.WithCancel(context.Background())
	w := &Writer{
		js: js, spec: spec, maxBody: maxBody, maxQueue: queueBytes, timeout: 2 * time.Second, hook: hook,
		wake: make(chan struct{}, 1), ctx: ctx, stop: stop, done: make(chan struct{}),
	}
	go w.run()
	return w
}

// EnsureStream creates or updates the dead-letter stream.
func (w *Writer) EnsureStream(ctx context.Context) error {
	if err := publish.Ensure(ctx, w.js, w.spec.Config()); err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	return nil
}

// Record queues r for the stream and returns at once.
func (w *Writer) Record(r Rejection) {
	m, id := w.message(r)
	size := int64(len(m.Data) + 1024) // headers, roughly
	w.mu.Lock()
	for len(w.queue) > 0 && w.bytes+size > w.maxQueue {
		w.bytes -= w.queue[0].size
		w.queue = w.queue[1:]
		w.hook(OutcomeDropped)
	}
	w.nextID++
	w.queue = append(w.queue, queued{seq: w.nextID, msg: m, msgID: id, size: size})
	w.bytes += size
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Queued is how many dead letters wait, and their bytes.
func (w *Writer) Queued() (int, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue), w.bytes
}

func (w *Writer) run() {
	defer close(w.done)
	b := backoff.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		w.mu.Lock()
		var head queued
		if len(w.queue) > 0 {
			head = w.queue[0]
		}
		w.mu.Unlock()
		if head.msg == nil {
			select {
			case <-w.ctx.Done():
				return
			case <-w.wake:
				continue
			}
		}
		ctx, cancel := context.WithTimeout(w.ctx, w.timeout)
		ack, err := w.js.PublishMsg(ctx, head.msg, jetstream.WithMsgID(head.msgID), jetstream.WithExpectStream(w.spec.Name))
		cancel()
		switch {
		case err == nil && ack.Duplicate:
			w.pop(head.seq, OutcomeDuplicate)
		case err == nil:
			w.pop(head.seq, OutcomePublished)
		case errors.Is(publish.Classify(err), publish.ErrRejected):
			w.pop(head.seq, OutcomeFailed) // the stream will never take it
		default:
			if !b.Sleep(w.ctx) {
				return
			}
			continue
		}
		b.Reset()
	}
}

// pop removes the head if it is still seq (a full queue may have dropped it).
func (w *Writer) pop(seq uint64, outcome string) {
	w.mu.Lock()
	if len(w.queue) > 0 && w.queue[0].seq == seq {
		w.bytes -= w.queue[0].size
		w.queue[0] = queued{}
		w.queue = w.queue[1:]
	}
	w.mu.Unlock()
	w.hook(outcome)
}

// message builds the NATS message of r and its Nats-Msg-Id. A body read
// in full is its own identity, so the provider's retries of one refused
// request are kept once; a body not read in full (too large, cut off) says
// nothing about the request, so its id is the request's own.
func (w *Writer) message(r Rejection) (*nats.Msg, string) {
	body := r.Body
	if len(body) > w.maxBody {
		body = body[:w.maxBody]
	}
	complete := int64(len(r.Body)) == r.BodySize
	truncated := int64(len(body)) < r.BodySize // capped here, or never read in full
	m := nats.NewMsg(w.spec.Subject(r.Reason, r.Family, r.TaskID))
	m.Data = body
	for k, vs := range r.Header {
		for _, v := range vs {
			m.Header.Add(HeaderOriginal+k, clip(v, 1024))
		}
	}
	if r.TaskID != "" {
		m.Header.Set(HeaderTaskID, clip(r.TaskID, 128))
	}
	m.Header.Set(HeaderReason, r.Reason)
	if r.Family != "" {
		m.Header.Set(HeaderFamily, r.Family)
	}
	m.Header.Set(HeaderError, clip(r.Error, 512))
	m.Header.Set(HeaderRequestID, r.RequestID)
	m.Header.Set(HeaderContentType, clip(r.ContentType, 128))
	m.Header.Set(HeaderBodySize, strconv.FormatInt(r.BodySize, 10))
	m.Header.Set(HeaderTruncated, strconv.FormatBool(truncated))
	m.Header.Set(HeaderReceivedAt, r.At.UTC().Format(time.RFC3339Nano))
	h := sha256.New()
	h.Write([]byte(r.Reason + "\x00" + r.ContentType + "\x00"))
	if r.Family != "" && r.Family != "vocals" { // add-vocals ids stay as they were
		h.Write([]byte(r.Family + "\x00"))
	}
	if complete {
		h.Write(r.Body)
	} else {
		h.Write([]byte("request\x00" + r.RequestID + "\x00" + r.At.UTC().Format(time.RFC3339Nano)))
	}
	return m, hex.EncodeToString(h.Sum(nil))
}

// Close publishes what is queued until ctx ends, then stops. It returns
// how many were left, which are counted as dropped.
func (w *Writer) Close(ctx context.Context) int {
	for {
		if n, _ := w.Queued(); n == 0 || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	w.stop()
	<-w.done
	w.mu.Lock()
	left := len(w.queue)
	w.queue, w.bytes = nil, 0
	w.mu.Unlock()
	for range left {
		w.hook(OutcomeDropped)
	}
	return left
}

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
