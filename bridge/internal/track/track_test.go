package track_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/track"
)

// replica opens the bucket over its own connection and runs its index.
func replica(t *testing.T, srv *natstest.Server) *track.Store {
	t.Helper()
	_, js := srv.Connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := track.Open(ctx, js, track.BucketSpec{Name: "TASKS", Replicas: 1, TTL: time.Hour}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-s.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("index never synced")
	}
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Two replicas read the same revision; only one can claim it.
func TestClaimIsCompareAndSet(t *testing.T) {
	srv := natstest.Start(t)
	a, b := replica(t, srv), replica(t, srv)
	ctx := context.Background()
	now := time.Now().UTC()
	if created, err := a.Add(ctx, track.Task{TaskID: "t1", Via: "proxy", TrackedAt: now, NextPoll: now}); !created || err != nil {
		t.Fatalf("add: %v %v", created, err)
	}
	if created, err := b.Add(ctx, track.Task{TaskID: "t1", Via: "announce"}); created || err != nil {
		t.Fatalf("second add: created %v, %v", created, err)
	}
	waitFor(t, "b to index t1", func() bool { return b.Tracked("", "t1") })

	ea, _ := a.Get("", "t1")
	eb, _ := b.Get("", "t1")
	if ea.Revision != eb.Revision || len(a.Due(now)) != 1 || len(b.Due(now)) != 1 {
		t.Fatalf("replicas disagree: %+v %+v", ea, eb)
	}
	claim := func(s *track.Store, e track.Entry, who string) error {
		t := e.Task
		t.Poller, t.NextPoll = who, now.Add(time.Minute)
		_, err := s.Update(ctx, e, t)
		return err
	}
	errA, errB := claim(a, ea, "a"), claim(b, eb, "b")
	if errA != nil || !errors.Is(errB, track.ErrLost) {
		t.Fatalf("claims: a %v, b %v; want a to win and b to lose", errA, errB)
	}
	waitFor(t, "b to see a's claim", func() bool { e, _ := b.Get("", "t1"); return e.Poller == "a" })
	if len(b.Due(now)) != 0 {
		t.Error("a claimed task is still due on b")
	}
	if tracked, stuck := b.Counts(now.Add(time.Hour), 30*time.Minute); tracked != 1 || stuck != 1 {
		t.Errorf("counts %d %d", tracked, stuck)
	}

	// Forget on the callback path removes it everywhere.
	if !b.Forget("", "t1") {
		t.Fatal("forget refused a tracked task")
	}
	waitFor(t, "a to see it gone", func() bool { return !a.Tracked("", "t1") })
	if b.Forget("", "t1") {
		t.Error("forget queued an untracked task")
	}
	if _, err := a.Update(ctx, ea, ea.Task); !errors.Is(err, track.ErrLost) {
		t.Errorf("update of a removed task: %v", err)
	}
	// A task can be tracked again after it ended.
	if created, err := a.Add(ctx, track.Task{TaskID: "t1"}); !created || err != nil {
		t.Errorf("re-add: %v %v", created, err)
	}
}

// A task is its family's: another family's task of the same id is another
// task, tracked and ended on its own; add-vocals tasks keep the bare id as
// their key, as before there were families.
func TestTasksAreKeyedByFamilyAndID(t *testing.T) {
	srv := natstest.Start(t)
	a := replica(t, srv)
	ctx := context.Background()
	for _, fam := range []string{"", "vocals", "lyrics", "wav"} {
		created, err := a.Add(ctx, track.Task{TaskID: "same", Family: fam, NextPoll: time.Now().Add(time.Hour)})
		if err != nil || created != (fam != "vocals") { // "" and "vocals" are one family
			t.Fatalf("add %q: created %v, %v", fam, created, err)
		}
	}
	if n, _ := a.Counts(time.Now(), time.Hour); n != 3 {
		t.Fatalf("%d tasks tracked, want add-vocals', lyrics' and wav's", n)
	}
	if !a.Forget("lyrics", "same") {
		t.Fatal("forget refused lyrics' task")
	}
	waitFor(t, "lyrics' task gone", func() bool { return !a.Tracked("lyrics", "same") })
	if !a.Tracked("vocals", "same") || !a.Tracked("", "same") || !a.Tracked("wav", "same") {
		t.Error("ending lyrics' task ended another family's task of the same id")
	}
	if err := a.Remove(ctx, "vocals", "same"); err != nil || a.Tracked("", "same") {
		t.Errorf("remove add-vocals' task: %v", err)
	}
	if track.Key("", "t") != "t" || track.Key("vocals", "t") != "t" || track.Key("midi", "t") != "midi.t" {
		t.Errorf("keys %q %q %q", track.Key("", "t"), track.Key("vocals", "t"), track.Key("midi", "t"))
	}
}

// A replica that starts later indexes what is already in the bucket.
func TestIndexLoadsExistingTasks(t *testing.T) {
	srv := natstest.Start(t)
	a := replica(t, srv)
	for _, id := range []string{"x", "y", "z"} {
		if _, err := a.Add(context.Background(), track.Task{TaskID: id, NextPoll: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	late := replica(t, srv)
	if n, _ := late.Counts(time.Now(), time.Hour); n != 3 {
		t.Errorf("late replica indexed %d tasks, want 3", n)
	}
	if due := late.Due(time.Now()); len(due) != 0 {
		t.Errorf("%d due before their time", len(due))
	}
}
