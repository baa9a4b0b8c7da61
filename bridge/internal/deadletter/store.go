package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Letter is a dead letter read back from its stream.
type Letter struct {
	Seq         uint64      `json:"seq"`
	Subject     string      `json:"subject"`
	Reason      string      `json:"reason"`
	Family      string      `json:"family"`
	TaskID      string      `json:"task_id,omitempty"`
	Error       string      `json:"error"`
	RequestID   string      `json:"request_id,omitempty"`
	ContentType string      `json:"content_type,omitempty"`
	BodySize    int64       `json:"body_size"`
	Truncated   bool        `json:"truncated"`
	ReceivedAt  time.Time   `json:"received_at"`
	Header      http.Header `json:"header,omitempty"` // the signature headers
	Body        []byte      `json:"body,omitempty"`   // only when asked for
	// Redriven is set once a redrive put its event in the stream.
	Redriven *Redrive `json:"redriven,omitempty"`
}

// Redrive is the mark a successful redrive leaves on a dead letter.
type Redrive struct {
	Outcome string    `json:"outcome"` // published, duplicate or spooled
	EventID string    `json:"event_id"`
	Subject string    `json:"subject"`
	At      time.Time `json:"at"`
}

// Filter selects dead letters; zero fields select all.
type Filter struct {
	Reason, Family, TaskID string
	Since, Until           time.Time
	// After skips the dead letters up to this sequence: where the last
	// page ended.
	After uint64
	// Limit stops the listing after this many (0: 1000).
	Limit int
}

// ParseTime reads a filter's time: RFC 3339, or the zero time (no bound)
// for an empty string.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, s)
}

func (f Filter) subject(prefix string) string {
	or := func(s string) string {
		if s == "" {
			return "*"
		}
		return token(s)
	}
	return prefix + "." + or(f.Reason) + "." + or(f.Family) + "." + or(f.TaskID)
}

// ErrNotFound is a sequence that holds no dead letter.
var ErrNotFound = errors.New("deadletter: no such dead letter")

// Store reads the dead-letter stream and marks what was redriven, with
// subject filters and direct gets, never a scan of the whole stream.
type Store struct {
	JS   jetstream.JetStream
	Spec StreamSpec
}

// List returns the dead letters f selects, oldest first, without bodies.
func (s Store) List(ctx context.Context, f Filter) ([]Letter, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{f.subject(s.Spec.SubjectPrefix)}, DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case f.After > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, f.After+1
	case !f.Since.IsZero():
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &f.Since
	}
	c, err := s.JS.OrderedConsumer(ctx, s.Spec.Name, cfg)
	if err != nil {
		return nil, fmt.Errorf("deadletter: %w", err)
	}
	if info, err := c.Info(ctx); err != nil || info.NumPending == 0 {
		return nil, err
	}
	var out []Letter
	for len(out) < limit {
		msg, err := c.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			return out, fmt.Errorf("deadletter: reading %s: %w", s.Spec.Name, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return out, err
		}
		l := letter(meta.Sequence.Stream, msg.Subject(), msg.Headers(), nil)
		if !f.Until.IsZero() && l.ReceivedAt.After(f.Until) {
			break
		}
		if !l.ReceivedAt.Before(f.Since) {
			out = append(out, l)
		}
		if meta.NumPending == 0 {
			break
		}
	}
	if len(out) > 16 { // one pass over the marks costs less than a get each
		marks, err := s.marks(ctx)
		for i := range out {
			out[i].Redriven = marks[out[i].Seq]
		}
		return out, err
	}
	for i := range out {
		if out[i].Redriven, err = s.mark(ctx, out[i].Seq); err != nil {
			return out, err
		}
	}
	return out, nil
}

// marks reads every redrive mark, with one consumer on their subjects.
func (s Store) marks(ctx context.Context) (map[uint64]*Redrive, error) {
	out := map[uint64]*Redrive{}
	c, err := s.JS.OrderedConsumer(ctx, s.Spec.Name, jetstream.OrderedConsumerConfig{FilterSubjects: []string{s.Spec.SubjectPrefix + markToken + "*"}})
	if err != nil {
		return out, fmt.Errorf("deadletter: %w", err)
	}
	if info, err := c.Info(ctx); err != nil || info.NumPending == 0 {
		return out, err
	}
	for range 1_000_000 { // bounded by the stream's size; the bound is for a broken stream
		msg, err := c.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			return out, fmt.Errorf("deadletter: reading marks: %w", err)
		}
		var r Redrive
		seq, perr := strconv.ParseUint(msg.Subject()[strings.LastIndexByte(msg.Subject(), '.')+1:], 10, 64)
		if perr == nil && json.Unmarshal(msg.Data(), &r) == nil {
			out[seq] = &r
		}
		if meta, err := msg.Metadata(); err != nil || meta.NumPending == 0 {
			break
		}
	}
	return out, nil
}

// Get returns the dead letter at seq, with its body.
func (s Store) Get(ctx context.Context, seq uint64) (Letter, error) {
	st, err := s.JS.Stream(ctx, s.Spec.Name)
	if err != nil {
		return Letter{}, fmt.Errorf("deadletter: %w", err)
	}
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Letter{}, ErrNotFound
	}
	if err != nil {
		return Letter{}, fmt.Errorf("deadletter: %w", err)
	}
	if strings.Count(strings.TrimPrefix(m.Subject, s.Spec.SubjectPrefix+"."), ".") != 2 {
		return Letter{}, ErrNotFound // a mark, or a dead letter of before redrives
	}
	l := letter(seq, m.Subject, m.Header, m.Data)
	l.Redriven, err = s.mark(ctx, seq)
	return l, err
}

// Mark records that a redrive of the dead letter at seq put its event in
// the stream; a second redrive finds it and does nothing.
func (s Store) Mark(ctx context.Context, seq uint64, r Redrive) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.JS.Publish(ctx, s.markSubject(seq), b, jetstream.WithMsgID("redriven-"+strconv.FormatUint(seq, 10)),
		jetstream.WithExpectStream(s.Spec.Name))
	return err
}

// markToken is between the prefix and the sequence in a mark's subject.
const markToken = "._redriven."

func (s Store) markSubject(seq uint64) string {
	return s.Spec.SubjectPrefix + markToken + strconv.FormatUint(seq, 10)
}

// mark is the Redrive recorded for seq, or nil.
func (s Store) mark(ctx context.Context, seq uint64) (*Redrive, error) {
	st, err := s.JS.Stream(ctx, s.Spec.Name)
	if err != nil {
		return nil, err
	}
	m, err := st.GetLastMsgForSubject(ctx, s.markSubject(seq))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("deadletter: %w", err)
	}
	var r Redrive
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return nil, fmt.Errorf("deadletter: mark of %d: %w", seq, err)
	}
	return &r, nil
}

// letter reads a dead letter's headers (and body, when given).
func letter(seq uint64, subject string, h nats.Header, body []byte) Letter {
	l := Letter{
		Seq: seq, Subject: subject, Reason: h.Get(HeaderReason), Family: h.Get(HeaderFamily), TaskID: h.Get(HeaderTaskID),
		Error: h.Get(HeaderError), RequestID: h.Get(HeaderRequestID), ContentType: h.Get(HeaderContentType),
		Truncated: h.Get(HeaderTruncated) == "true", Body: body,
	}
	l.BodySize, _ = strconv.ParseInt(h.Get(HeaderBodySize), 10, 64)
	l.ReceivedAt, _ = time.Parse(time.RFC3339Nano, h.Get(HeaderReceivedAt))
	for k, vs := range h {
		if name, ok := strings.CutPrefix(k, HeaderOriginal); ok {
			if l.Header == nil {
				l.Header = http.Header{}
			}
			for _, v := range vs {
				l.Header.Add(name, v)
			}
		}
	}
	return l
}
