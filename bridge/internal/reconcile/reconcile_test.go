package reconcile_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/provider"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/reconcile"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/sunosim"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/track"
)

// rig is a real JetStream server, the stream, the bucket, the simulator
// and a reconciler over them.
type rig struct {
	sim     *sunosim.Sim
	simURL  string
	store   *track.Store
	pub     *publish.JetStream
	builder *cloudevent.Builder
	mu      sync.Mutex
	ended   map[string]string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv := natstest.Start(t)
	pub, store := srv.Tracking(t)
	sim := sunosim.New(sunosim.Options{APIKey: "k", Scale: 0.0005})
	hs := httptest.NewServer(sim)
	t.Cleanup(func() { hs.Close(); sim.Close() })
	return &rig{sim: sim, simURL: hs.URL, store: store, pub: pub, ended: map[string]string{},
		builder: cloudevent.NewBuilder("vocals", "/vocals-bridge", "http://localhost/schemas", time.UTC)}
}

// run starts a reconciler polling every interval, with a tracking
// deadline of an hour.
func (r *rig) run(t *testing.T, interval time.Duration) { r.runWithDeadline(t, interval, time.Hour) }

func (r *rig) runWithDeadline(t *testing.T, interval, deadline time.Duration) {
	t.Helper()
	r.runWithDeadlines(t, interval, deadline, nil)
}

func (r *rig) runWithDeadlines(t *testing.T, interval, deadline time.Duration, deadlines map[event.Family]time.Duration) {
	t.Helper()
	client, err := provider.New(r.simURL, "k", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rec := reconcile.New(r.store, client, r.builder, deliver.New(r.pub, nil, nil, 5*time.Second, nil), r.pub, reconcile.Config{
		Replica: "test", Interval: interval, Deadline: deadline, Deadlines: deadlines, StuckAfter: time.Hour, Rate: 100, MaxBackoff: time.Minute,
	}, zaptest.NewLogger(t), reconcile.Hooks{Finished: func(id, how string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.ended[id] = how
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rec.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (r *rig) endedHow(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ended[id]
}

func (r *rig) submit(t *testing.T, fault string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"uploadUrl": "u", "prompt": "p", "title": "t", "style": "s",
		"negativeTags": "n", "callBackUrl": "http://127.0.0.1:1/cb", sunosim.FaultField: fault})
	client, _ := provider.New(r.simURL, "k", 5*time.Second)
	a, err := client.Submit(context.Background(), sunosim.SubmitPath, body, "")
	if err != nil || a.TaskID == "" {
		t.Fatalf("submit: %+v %v", a, err)
	}
	return a.TaskID
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A task whose terminal event is already in the stream (its callback went
// to another bridge, or the callback path's Forget was dropped) is ended
// without asking the provider.
func TestFinishedTaskIsNotPolled(t *testing.T) {
	r := newRig(t)
	id := r.submit(t, "never")
	msg, err := r.builder.Build(callback.Callback{Family: event.FamilyVocals, TaskID: id, Stage: event.StageComplete, CallbackType: "complete", Code: 200}, cloudevent.Source{Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.pub.Publish(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := r.store.Add(context.Background(), track.Task{TaskID: id, TrackedAt: now, NextPoll: now}); err != nil {
		t.Fatal(err)
	}
	r.run(t, time.Second)
	waitFor(t, "tracking to end", func() bool { return r.endedHow(id) != "" })
	if how := r.endedHow(id); how != "stream" {
		t.Errorf("ended %q, want stream", how)
	}
	if v, _ := r.sim.Task(id); len(v.Polls) != 0 {
		t.Errorf("polled %d times", len(v.Polls))
	}
}

// A replica that claimed a poll and died leaves the task claimed until the
// claim's due time; then another replica polls it. Nothing polls it sooner.
func TestAbandonedClaimIsPolledAtItsDueTime(t *testing.T) {
	r := newRig(t)
	id := r.submit(t, "never")
	waitFor(t, "the task to finish at the provider", func() bool { v, _ := r.sim.Task(id); return v.Status == "SUCCESS" })
	now := time.Now()
	due := now.Add(1500 * time.Millisecond)
	// The dead replica's claim: due in 1.5 s, never polled.
	if _, err := r.store.Add(context.Background(), track.Task{TaskID: id, TrackedAt: now, NextPoll: due, Poller: "dead", Polls: 1}); err != nil {
		t.Fatal(err)
	}
	r.run(t, 200*time.Millisecond)
	waitFor(t, "the poll", func() bool { v, _ := r.sim.Task(id); return len(v.Polls) > 0 })
	v, _ := r.sim.Task(id)
	if v.Polls[0].Before(due) {
		t.Errorf("polled %s before the claim's due time", due.Sub(v.Polls[0]))
	}
	waitFor(t, "tracking to end", func() bool { return r.endedHow(id) == "terminal" })
	if v, _ = r.sim.Task(id); len(v.Polls) != 1 {
		t.Errorf("polled %d times", len(v.Polls))
	}
}

// A task past its deadline is polled one last time: a terminal status
// then ends it as that stage, not as a timeout.
func TestLastPollBeforeTimeoutWins(t *testing.T) {
	r := newRig(t)
	id := r.submit(t, "never")
	waitFor(t, "the task to finish at the provider", func() bool { v, _ := r.sim.Task(id); return v.Status == "SUCCESS" })
	long := time.Now().Add(-2 * time.Hour)
	if _, err := r.store.Add(context.Background(), track.Task{TaskID: id, TrackedAt: long, NextPoll: long}); err != nil {
		t.Fatal(err)
	}
	r.runWithDeadline(t, time.Second, time.Hour)
	waitFor(t, "tracking to end", func() bool { return r.endedHow(id) != "" })
	if how := r.endedHow(id); how != "terminal" {
		t.Fatalf("ended %q, want terminal", how)
	}
	msgs := natstest.Messages(t, r.pub.JS(), "VOCALS", "vocals."+id+".>")
	if len(msgs) != 1 || msgs[0].Subject != "vocals."+id+".complete" || !strings.Contains(string(msgs[0].Data), `"origin":"poll"`) {
		t.Errorf("stored %d messages, first on %v", len(msgs), msgs)
	}
}

// A family's own deadline ends its stuck tasks with a timeout event in
// the family's shape, under its subject, while other families' tasks of
// the same age are still polled.
func TestFamilyDeadline(t *testing.T) {
	r := newRig(t)
	client, _ := provider.New(r.simURL, "k", 5*time.Second)
	ids := map[event.Family]string{}
	for _, f := range []family.Family{mustFamily(t, event.FamilyLyrics), mustFamily(t, event.FamilyVocals)} {
		body, _ := json.Marshal(map[string]string{"uploadUrl": "u", "prompt": "p", "title": "t", "style": "s",
			"negativeTags": "n", f.CallbackField: "http://127.0.0.1:1/cb", sunosim.FaultField: "stuck"})
		a, err := client.Submit(context.Background(), f.Submit, body, "")
		if err != nil || a.TaskID == "" {
			t.Fatalf("submit: %+v %v", a, err)
		}
		ids[f.Name] = a.TaskID
		then := time.Now().Add(-20 * time.Minute)
		if _, err := r.store.Add(context.Background(), track.Task{TaskID: a.TaskID, Family: string(f.Name), TrackedAt: then, NextPoll: then}); err != nil {
			t.Fatal(err)
		}
	}
	r.runWithDeadlines(t, time.Second, time.Hour, map[event.Family]time.Duration{event.FamilyLyrics: 10 * time.Minute})
	waitFor(t, "the lyrics task to time out", func() bool { return r.endedHow(ids[event.FamilyLyrics]) != "" })
	if how := r.endedHow(ids[event.FamilyLyrics]); how != "timeout" {
		t.Fatalf("lyrics task ended %q, want timeout", how)
	}
	msgs := natstest.Messages(t, r.pub.JS(), "VOCALS", "lyrics."+ids[event.FamilyLyrics]+".>")
	if len(msgs) != 1 || !strings.HasSuffix(msgs[0].Subject, ".timeout") || !strings.Contains(string(msgs[0].Data), `"origin":"timeout"`) ||
		!strings.Contains(string(msgs[0].Data), `"lyrics":[]`) || !strings.Contains(string(msgs[0].Data), `"code":408`) {
		t.Fatalf("stored %v", msgs)
	}
	if how := r.endedHow(ids[event.FamilyVocals]); how != "" {
		t.Errorf("the vocals task, within its hour, ended %q", how)
	}
}

func mustFamily(t *testing.T, name event.Family) family.Family {
	t.Helper()
	f, ok := family.Get(name)
	if !ok {
		t.Fatalf("no family %s", name)
	}
	return f
}
