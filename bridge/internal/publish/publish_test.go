package publish_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
)

func spec(window time.Duration) publish.StreamSpec {
	return publish.StreamSpec{Name: "VOCALS", SubjectPrefix: "vocals", Replicas: 1, MaxAge: time.Hour, Duplicates: window}
}

func message(task string, stage event.Stage) outbound.Message {
	return outbound.Message{
		ID: event.ID(task, stage), Subject: event.Subject("vocals", task, stage),
		Stage: stage, TaskID: task, Body: []byte(`{"task":"` + task + `"}`),
	}
}

func setup(t *testing.T, window time.Duration) (*publish.JetStream, jetstream.JetStream, *natstest.Server) {
	t.Helper()
	srv := natstest.Start(t)
	nc, err := publish.Connect([]string{srv.URL}, natstest.Logger(t), publish.ConnHooks{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	p, err := publish.NewJetStream(nc, "VOCALS", event.Structured, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := publish.EnsureStream(ctx, p.JS(), spec(window)); err != nil {
		t.Fatal(err)
	}
	_, js := srv.Connect(t)
	return p, js, srv
}

func pub(t *testing.T, p publish.Publisher, m outbound.Message) (publish.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.Publish(ctx, m)
}

func TestPublishStoresOncePerStage(t *testing.T) {
	p, js, _ := setup(t, 30*time.Minute)
	for _, st := range event.Stages() {
		res, err := pub(t, p, message("task1", st))
		if err != nil || res.Duplicate || res.Sequence == 0 {
			t.Fatalf("%s: first publish: %+v %v", st, res, err)
		}
		res, err = pub(t, p, message("task1", st))
		if err != nil || !res.Duplicate {
			t.Fatalf("%s: retry must be an acknowledged duplicate: %+v %v", st, res, err)
		}
	}
	msgs := natstest.Messages(t, js, "VOCALS", "vocals.task1.*")
	if len(msgs) != len(event.Stages()) {
		t.Fatalf("stored %d messages, want %d", len(msgs), len(event.Stages()))
	}
	for _, m := range msgs {
		if m.Header.Get("Content-Type") != event.ContentType || m.Header.Get(jetstream.MsgIDHeader) == "" {
			t.Errorf("%s: headers %v", m.Subject, m.Header)
		}
	}
}

// After the duplicate window the per-subject limit still refuses a second
// message for the stage, and the bridge treats that as a duplicate.
func TestPerSubjectLimitOutlivesDuplicateWindow(t *testing.T) {
	p, js, _ := setup(t, time.Second)
	if _, err := pub(t, p, message("task2", event.StageComplete)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := pub(t, p, message("task2", event.StageComplete))
		if err != nil {
			t.Fatalf("late retry: %v", err)
		}
		if !res.Duplicate {
			t.Fatal("late retry stored again")
		}
		if res.Sequence == 0 { // refused by the per-subject limit, not the window
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("duplicate window never expired")
		}
		time.Sleep(250 * time.Millisecond)
	}
	if n := len(natstest.Messages(t, js, "VOCALS", "vocals.task2.>")); n != 1 {
		t.Fatalf("stored %d messages, want 1", n)
	}
}

// The per-subject limit is a duplicate only when the subject holds the same
// event: another event (another id) on a held subject is rejected, not
// answered as stored.
func TestPerSubjectLimitWithAnotherEventIsRejected(t *testing.T) {
	p, js, _ := setup(t, time.Minute)
	if _, err := pub(t, p, message("task3", event.StageComplete)); err != nil {
		t.Fatal(err)
	}
	other := message("task3", event.StageComplete)
	other.ID = event.FamilyLyrics.ID("task3", event.StageComplete)
	if res, err := pub(t, p, other); !errors.Is(err, publish.ErrRejected) {
		t.Fatalf("another event on a held subject: %+v %v, want ErrRejected", res, err)
	}
	if res, err := pub(t, p, message("task3", event.StageComplete)); err != nil || !res.Duplicate {
		t.Fatalf("the same event again: %+v %v, want a duplicate", res, err)
	}
	if n := len(natstest.Messages(t, js, "VOCALS", "vocals.task3.>")); n != 1 {
		t.Fatalf("stored %d messages, want 1", n)
	}
}

func TestPublishErrorsAreClassified(t *testing.T) {
	t.Run("subject of another stream is rejected", func(t *testing.T) {
		p, js, _ := setup(t, time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
			t.Fatal(err)
		}
		m := message("t", event.StageText)
		m.Subject = "other.t.text"
		_, err := pub(t, p, m)
		if !errors.Is(err, publish.ErrRejected) {
			t.Fatalf("want ErrRejected, got %v", err)
		}
	})
	t.Run("no stream is unavailable", func(t *testing.T) {
		p, _, _ := setup(t, time.Minute)
		m := message("t", event.StageText)
		m.Subject = "nowhere.t.text"
		_, err := pub(t, p, m)
		if !errors.Is(err, publish.ErrUnavailable) || !errors.Is(err, publish.ErrRetrySoon) {
			t.Fatalf("want ErrUnavailable and ErrRetrySoon, got %v", err)
		}
	})
	t.Run("server gone is unavailable, within the deadline", func(t *testing.T) {
		p, _, srv := setup(t, time.Minute)
		srv.Shutdown()
		start := time.Now()
		_, err := pub(t, p, message("t", event.StageText))
		if !errors.Is(err, publish.ErrUnavailable) || errors.Is(err, publish.ErrRetrySoon) {
			t.Fatalf("want ErrUnavailable without ErrRetrySoon (nothing to wait for), got %v", err)
		}
		if d := time.Since(start); d >= 15*time.Second {
			t.Fatalf("publish took %s: the 5s deadline did not bound it", d)
		}
	})
	t.Run("oversized message is rejected", func(t *testing.T) {
		p, _, _ := setup(t, time.Minute)
		m := message("big", event.StageText)
		m.Body = []byte(strings.Repeat("x", 9<<20))
		_, err := pub(t, p, m)
		if !errors.Is(err, publish.ErrRejected) || !errors.Is(err, nats.ErrMaxPayload) {
			t.Fatalf("want ErrRejected wrapping ErrMaxPayload, got %v", err)
		}
	})
}

func TestEnsureStreamIsIdempotentAndUpdates(t *testing.T) {
	p, js, _ := setup(t, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := publish.EnsureStream(ctx, p.JS(), spec(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "VOCALS")
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if cfg.Duplicates != 2*time.Minute || cfg.MaxMsgsPerSubject != 1 || !cfg.DiscardNewPerSubject ||
		cfg.Storage != jetstream.FileStorage || cfg.Subjects[0] != "vocals.>" {
		t.Errorf("stream config %+v", cfg)
	}
}

func TestCheckStream(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := publish.CheckStream(ctx, js, spec(time.Minute)); !errors.Is(err, publish.ErrStreamMissing) {
		t.Fatalf("missing stream: got %v", err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "VOCALS", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := publish.CheckStream(ctx, js, spec(time.Minute)); err == nil || !strings.Contains(err.Error(), "vocals.>") {
		t.Fatalf("stream without the prefix: got %v", err)
	}
	if _, err := js.UpdateStream(ctx, jetstream.StreamConfig{Name: "VOCALS", Subjects: []string{"vocals.>"}, Duplicates: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	warn, err := publish.CheckStream(ctx, js, spec(time.Minute))
	if err != nil || len(warn) != 2 {
		t.Fatalf("weak stream: want 2 warnings, got %v %v", warn, err)
	}
}

// Refused separates what the server will refuse again from what may pass
// on a retry.
func TestRefused(t *testing.T) {
	tests := map[string]struct {
		err  error
		want bool
	}{
		"bad configuration":  {&jetstream.APIError{Code: 400, ErrorCode: 10052, Description: "replicas > 1 not supported in non-clustered mode"}, true},
		"stream name in use": {&jetstream.APIError{Code: 400, ErrorCode: 10058}, true},
		"no leader":          {&jetstream.APIError{Code: 503, ErrorCode: 10008}, false},
		// A cluster still forming answers 400 until its peers have joined.
		"no suitable peers": {&jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement"}, false},
		"timeout":           {context.DeadlineExceeded, false},
		"wrapped":           {fmt.Errorf("publish: creating stream: %w", &jetstream.APIError{Code: 400}), true},
		"nil":               {nil, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := publish.Refused(tc.err); got != tc.want {
				t.Errorf("Refused(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestSubjectMatches(t *testing.T) {
	tests := map[string]struct {
		pattern, subject string
		want             bool
	}{
		"literal":              {"vocals.a.complete", "vocals.a.complete", true},
		"tail wildcard":        {"vocals.>", "vocals.a.complete", true},
		"tail needs a token":   {"vocals.>", "vocals", false},
		"token wildcard":       {"vocals.*.complete", "vocals.a.complete", true},
		"token wildcard, more": {"vocals.*", "vocals.a.complete", false},
		"other prefix":         {"vocals.>", "lyrics.a.complete", false},
		"renamed family":       {"songtext.>", "lyrics.a.complete", false},
		"shorter subject":      {"a.b.c", "a.b", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := publish.SubjectMatches(tc.pattern, tc.subject); got != tc.want {
				t.Errorf("SubjectMatches(%q, %q) = %v", tc.pattern, tc.subject, got)
			}
		})
	}
}
