// Package track keeps the tasks the bridge follows in a JetStream
// key-value bucket shared by every replica: one key per family and task id
// (Key), holding
// when it was tracked and when it is next due for a poll. Every replica
// watches the bucket into a local index; changes are compare-and-set on the
// key's revision, so two replicas can never both claim the same poll.
package track

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// Task is what the bucket holds for a task, under Key(Family, TaskID).
type Task struct {
	TaskID    string    `json:"task_id"`
	Family    string    `json:"family,omitempty"` // empty for add-vocals tasks tracked before families
	Via       string    `json:"via"`              // proxy or announce
	TrackedAt time.Time `json:"tracked_at"`
	NextPoll  time.Time `json:"next_poll"`
	Polls     int       `json:"polls"`
	Failures  int       `json:"failures"`         // consecutive failed polls
	Status    string    `json:"status,omitempty"` // last record-info status
	Poller    string    `json:"poller,omitempty"` // replica that claimed the last poll
}

// Entry is a Task at a bucket revision.
type Entry struct {
	Task
	Revision uint64
}

// Key is where a family's task lives in the bucket: the task id for
// add-vocals (as before there were families; family "" is add-vocals),
// "<family>.<task id>" for the others. Two families' tasks with one id
// are two tasks. Task ids hold no dots, so the forms cannot collide.
func Key(family, taskID string) string {
	if family == "" || family == string(event.FamilyVocals) {
		return taskID
	}
	return family + "." + taskID
}

// Key is where t lives in the bucket.
func (t Task) Key() string { return Key(t.Family, t.TaskID) }

// BucketSpec is the bucket the store needs.
type BucketSpec struct {
	Name     string
	Replicas int
	// TTL drops a key not written for this long: a safety net for tasks
	// whose replicas all vanished, and what clears delete markers.
	TTL time.Duration
}

var (
	// ErrLost means another replica changed the task since it was read:
	// it claimed the poll, or the task ended.
	ErrLost = errors.New("track: the task changed since it was read")
)

// Store is the bucket and this replica's index of it. It is safe for
// concurrent use.
type Store struct {
	kv  jetstream.KeyValue
	log *zap.Logger

	mu     sync.Mutex
	tasks  map[string]Entry
	synced chan struct{} // closed once the initial values are indexed
	forget chan string
}

// Open creates the bucket if it does not exist (an existing one is used as
// it is, so a restart makes no cluster-wide proposal) and returns a Store.
// Run must run for the index to fill.
func Open(ctx context.Context, js jetstream.JetStream, spec BucketSpec, log *zap.Logger) (*Store, error) {
	kv, err := js.KeyValue(ctx, spec.Name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      spec.Name,
			Description: "vocals-bridge: tasks being tracked until a terminal stage",
			History:     1,
			TTL:         spec.TTL,
			Storage:     jetstream.FileStorage,
			Replicas:    spec.Replicas,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("track: bucket %s: %w", spec.Name, err)
	}
	return &Store{kv: kv, log: log, tasks: map[string]Entry{}, synced: make(chan struct{}), forget: make(chan string, 4096)}, nil
}

// Run keeps the index current and carries out Forget, until ctx ends.
func (s *Store) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.forgetLoop(ctx)
	}()
	defer wg.Wait()
	for ctx.Err() == nil {
		if err := s.watch(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("watching the task bucket; retrying", zap.Error(err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) watch(ctx context.Context) error {
	w, err := s.kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	fresh := map[string]Entry{}
	initial := true
	for {
		var e jetstream.KeyValueEntry
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case e, ok = <-w.Updates():
		}
		if !ok {
			return errors.New("watcher stopped")
		}
		if e == nil { // the initial values are all in
			s.mu.Lock()
			s.tasks, initial = fresh, false
			s.mu.Unlock()
			select {
			case <-s.synced:
			default:
				close(s.synced)
			}
			continue
		}
		if initial {
			apply(fresh, e, s.log)
			continue
		}
		s.mu.Lock()
		apply(s.tasks, e, s.log)
		s.mu.Unlock()
	}
}

// apply records one bucket change in idx; an older revision than the one
// held (seen through Update's own answer first) is ignored.
func apply(idx map[string]Entry, e jetstream.KeyValueEntry, log *zap.Logger) {
	if e.Operation() != jetstream.KeyValuePut {
		delete(idx, e.Key())
		return
	}
	if have, ok := idx[e.Key()]; ok && have.Revision >= e.Revision() {
		return
	}
	var t Task
	if err := json.Unmarshal(e.Value(), &t); err != nil || t.Key() != e.Key() {
		log.Warn("ignoring an unreadable tracked task", zap.String("key", e.Key()), zap.Error(err))
		return
	}
	idx[e.Key()] = Entry{Task: t, Revision: e.Revision()}
}

// Synced is closed once the index holds the bucket's contents.
func (s *Store) Synced() <-chan struct{} { return s.synced }

// Add tracks t. created is false when the task was already tracked.
func (s *Store) Add(ctx context.Context, t Task) (created bool, err error) {
	val, _ := json.Marshal(t)
	rev, err := s.kv.Create(ctx, t.Key(), val)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("track: adding %s: %w", t.Key(), err)
	}
	s.remember(Entry{Task: t, Revision: rev})
	return true, nil
}

// Update writes t over e if the task is still at e's revision, else
// returns ErrLost. The returned Entry is t at its new revision.
func (s *Store) Update(ctx context.Context, e Entry, t Task) (Entry, error) {
	val, _ := json.Marshal(t)
	rev, err := s.kv.Update(ctx, e.Key(), val, e.Revision)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return Entry{}, ErrLost
	}
	if err != nil {
		return Entry{}, fmt.Errorf("track: updating %s: %w", e.Key(), err)
	}
	ne := Entry{Task: t, Revision: rev}
	s.remember(ne)
	return ne, nil
}

func (s *Store) remember(e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if have, ok := s.tasks[e.Key()]; !ok || have.Revision < e.Revision {
		s.tasks[e.Key()] = e
	}
}

// Remove stops tracking a family's task.
func (s *Store) Remove(ctx context.Context, family, taskID string) error {
	return s.remove(ctx, Key(family, taskID))
}

func (s *Store) remove(ctx context.Context, key string) error {
	if err := s.kv.Delete(ctx, key); err != nil {
		return fmt.Errorf("track: removing %s: %w", key, err)
	}
	s.mu.Lock()
	delete(s.tasks, key)
	s.mu.Unlock()
	return nil
}

// Forget removes a task that reached a terminal stage, if it is tracked,
// without blocking the caller: the callback path calls it for every
// terminal event. A full queue drops the request; the reconciler then
// finds the terminal event in the stream before it would poll.
func (s *Store) Forget(family, taskID string) bool {
	if !s.Tracked(family, taskID) {
		return false
	}
	select {
	case s.forget <- Key(family, taskID):
		return true
	default:
		return false
	}
}

func (s *Store) forgetLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case key := <-s.forget:
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := s.remove(rctx, key); err != nil {
				s.log.Warn("forgetting a finished task", zap.String("key", key), zap.Error(err))
			}
			cancel()
		}
	}
}

// Tracked reports whether the index holds the family's task.
func (s *Store) Tracked(family, taskID string) bool {
	_, ok := s.Get(family, taskID)
	return ok
}

// Get returns the indexed entry for the family's task.
func (s *Store) Get(family, taskID string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.tasks[Key(family, taskID)]
	return e, ok
}

// Due returns the tasks whose next poll is at or before now, soonest first.
func (s *Store) Due(now time.Time) []Entry {
	s.mu.Lock()
	var out []Entry
	for _, e := range s.tasks {
		if !e.NextPoll.After(now) {
			out = append(out, e)
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].NextPoll.Before(out[j].NextPoll) })
	return out
}

// Counts returns how many tasks are tracked and how many of those were
// tracked more than stuckAfter before now.
func (s *Store) Counts(now time.Time, stuckAfter time.Duration) (tracked, stuck int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.tasks {
		if now.Sub(e.TrackedAt) > stuckAfter {
			stuck++
		}
	}
	return len(s.tasks), stuck
}
