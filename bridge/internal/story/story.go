// Package story tells what the bridge knows of one task, across families:
// its tracking state, its events in the stream, the dead letters that name
// it and the events of it waiting in this replica's spool. It reads with
// direct gets and subject filters, never a scan of a whole stream.
package story

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deadletter"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/spool"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/track"
)

// Sources are where a story is read from; nil parts are off.
type Sources struct {
	JS     jetstream.JetStream
	Stream string
	// Prefixes are the stage subject prefixes of the enabled families.
	Prefixes map[event.Family]string
	// TrackingBucket holds the tracked tasks ("": tracking is off);
	// Deadline is a family's tracking deadline.
	TrackingBucket string
	Deadline       func(event.Family) time.Duration
	DeadLetters    *deadletter.Store
	Spool          *spool.Spool
}

// Story is everything known of a task, each part oldest first.
type Story struct {
	TaskID      string              `json:"task_id"`
	Tracked     []Tracked           `json:"tracked"`
	Events      []Event             `json:"events"`
	DeadLetters []deadletter.Letter `json:"dead_letters"`
	Spooled     []Spooled           `json:"spooled"`
}

// Tracked is the task's entry in the tracking bucket, for one family.
type Tracked struct {
	track.Task
	Deadline time.Time `json:"deadline"`
}

// Event is one of the task's events in the stream.
type Event struct {
	Family  string    `json:"family"`
	Stage   string    `json:"stage"`
	Subject string    `json:"subject"`
	ID      string    `json:"id"`
	Origin  string    `json:"origin,omitempty"` // callback, poll or timeout
	Code    int       `json:"code,omitempty"`
	Stored  time.Time `json:"stored"`
	Seq     uint64    `json:"seq"`
}

// Spooled is one of the task's events waiting in the spool.
type Spooled struct {
	ID      string    `json:"id"`
	Subject string    `json:"subject"`
	Queued  time.Time `json:"queued"`
}

// ErrBadTaskID is a task id that cannot be a subject token.
var ErrBadTaskID = errors.New("story: a task id is letters, digits, '_' or '-'")

// Tell reads the story of taskID.
func Tell(ctx context.Context, src Sources, taskID string) (Story, error) {
	if !event.ValidTaskID(taskID) {
		return Story{}, ErrBadTaskID
	}
	s := Story{TaskID: taskID, Tracked: []Tracked{}, Events: []Event{}, DeadLetters: []deadletter.Letter{}, Spooled: []Spooled{}}
	var err error
	if s.Events, err = events(ctx, src, taskID); err != nil {
		return s, err
	}
	if src.TrackingBucket != "" {
		kv, err := src.JS.KeyValue(ctx, src.TrackingBucket)
		if err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
			return s, fmt.Errorf("story: tracking: %w", err)
		}
		for f := range src.Prefixes {
			if kv == nil {
				break // tracking has not made its bucket yet
			}
			e, err := kv.Get(ctx, track.Key(string(f), taskID))
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return s, fmt.Errorf("story: tracking: %w", err)
			}
			var t track.Task
			if err := json.Unmarshal(e.Value(), &t); err != nil {
				return s, fmt.Errorf("story: tracking: %w", err)
			}
			tr := Tracked{Task: t}
			if src.Deadline != nil {
				tr.Deadline = t.TrackedAt.Add(src.Deadline(f))
			}
			s.Tracked = append(s.Tracked, tr)
		}
		slices.SortFunc(s.Tracked, func(a, b Tracked) int { return a.TrackedAt.Compare(b.TrackedAt) })
	}
	if src.DeadLetters != nil {
		if s.DeadLetters, err = src.DeadLetters.List(ctx, deadletter.Filter{TaskID: taskID}); err != nil {
			return s, err
		}
	}
	if src.Spool != nil {
		for _, e := range src.Spool.Waiting() {
			if strings.Contains(e.Subject, "."+taskID+".") {
				s.Spooled = append(s.Spooled, Spooled{ID: e.ID, Subject: e.Subject, Queued: e.Queued})
			}
		}
	}
	return s, nil
}

// events reads the task's stage and task subjects of every family the
// stream captures, with one ordered consumer filtered on them.
func events(ctx context.Context, src Sources, taskID string) ([]Event, error) {
	st, err := src.JS.Stream(ctx, src.Stream)
	if err != nil {
		return nil, fmt.Errorf("story: %w", err)
	}
	byPrefix := map[string]event.Family{}
	var filters []string
	for f, p := range src.Prefixes {
		for _, p := range []string{p, event.TaskPrefix(p)} {
			if captured(st.CachedInfo().Config.Subjects, p) {
				byPrefix[p] = f
				filters = append(filters, p+"."+taskID+".*")
			}
		}
	}
	out := []Event{}
	if len(filters) == 0 {
		return out, nil
	}
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: filters})
	if err != nil {
		return nil, fmt.Errorf("story: %w", err)
	}
	if info, err := c.Info(ctx); err != nil || info.NumPending == 0 {
		return out, err
	}
	for range 10_000 { // a task has a few events; the bound is for a broken stream
		msg, err := c.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			return out, fmt.Errorf("story: reading %s: %w", src.Stream, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return out, err
		}
		subject := msg.Subject()
		prefix := strings.TrimSuffix(subject, "."+taskID+subject[strings.LastIndexByte(subject, '.'):])
		e := Event{
			Family: string(byPrefix[prefix]), Subject: subject, Stage: subject[strings.LastIndexByte(subject, '.')+1:],
			ID: msg.Headers().Get(jetstream.MsgIDHeader), Stored: meta.Timestamp, Seq: meta.Sequence.Stream,
		}
		if ev, err := consumer.Decode(subject, msg.Headers(), msg.Data()); err == nil {
			e.Origin, e.Code = string(ev.Origin()), ev.Common().Code
		}
		out = append(out, e)
		if meta.NumPending == 0 {
			break
		}
	}
	return out, nil
}

// captured reports whether a stream with subjects stores "<prefix>.>".
func captured(subjects []string, prefix string) bool {
	for _, s := range subjects {
		if s == prefix+".>" || strings.HasPrefix(prefix+".", strings.TrimSuffix(s, ">")) {
			return true
		}
	}
	return false
}

// WriteText prints s for a person: one section per source, oldest first.
func (s Story) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(tw, "task %s\n", s.TaskID)
	fmt.Fprintf(tw, "\ntracking: %d\n", len(s.Tracked))
	for _, t := range s.Tracked {
		fmt.Fprintf(tw, "  %s\tvia %s\ttracked %s\tnext poll %s\tdeadline %s\tpolls %d\tclaimed by %s\tstatus %s\n",
			cmp.Or(t.Family, string(event.FamilyVocals)), t.Via, at(t.TrackedAt), at(t.NextPoll), at(t.Deadline), t.Polls, cmp.Or(t.Poller, "-"), cmp.Or(t.Status, "-"))
	}
	fmt.Fprintf(tw, "\nevents: %d\n", len(s.Events))
	for _, e := range s.Events {
		fmt.Fprintf(tw, "  %s\t%s\t%s\tfrom %s\t%s\tid %s\n", at(e.Stored), e.Family, e.Stage, cmp.Or(e.Origin, "-"), e.Subject, e.ID)
	}
	fmt.Fprintf(tw, "\ndead letters: %d\n", len(s.DeadLetters))
	for _, d := range s.DeadLetters {
		redriven := "not redriven"
		if d.Redriven != nil {
			redriven = "redriven " + d.Redriven.Outcome + " " + at(d.Redriven.At)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\tseq %d\t%s\t%s\n", at(d.ReceivedAt), d.Family, d.Reason, d.Seq, redriven, d.Error)
	}
	fmt.Fprintf(tw, "\nspooled here: %d\n", len(s.Spooled))
	for _, e := range s.Spooled {
		fmt.Fprintf(tw, "  %s\t%s\tid %s\n", at(e.Queued), e.Subject, e.ID)
	}
}
