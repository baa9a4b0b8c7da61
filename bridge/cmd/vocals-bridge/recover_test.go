package main_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
)

// cli runs the binary's operator command args against p's admin listener
// and returns its output and whether it exited 0.
func cli(t *testing.T, p *proc, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(binary, append(args, "--admin", p.admin)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		t.Fatal(err)
	}
	return string(out), err == nil
}

// Callbacks refused by a mistake (a family turned off, a wrong HMAC key)
// are redriven once the mistake is fixed, exactly once however often they
// are redriven and however the provider retries; until then a redrive is
// refused and the dead letter stays.
func TestRedriveAfterTheFix(t *testing.T) {
	t.Parallel()
	lyrics, _ := family.Get(event.FamilyLyrics)
	ex, _ := lyrics.Example("s", event.StageComplete)
	now := time.Now().Unix()
	ts, sig := sign("right-key", "redrive2", now)
	signed := map[string]string{"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig}
	tests := map[string]struct {
		path          string
		body          []byte
		header        map[string]string
		mistake, fix  []string
		refusedAs     string
		subject       string
		refusedBefore bool // a redrive before the fix is refused
	}{
		"family turned off": {
			path: lyrics.Path(), body: ex.For("redrive1"), refusedAs: "family_disabled", subject: "lyrics.redrive1.complete",
			mistake: []string{"VOCALS_BRIDGE_DISABLED_FAMILIES=lyrics"},
		},
		"wrong hmac key": {
			path: "/callbacks/vocals", body: signedCallback("redrive2", "complete"), header: signed,
			refusedAs: "signature", subject: "vocals.redrive2.complete", refusedBefore: true,
			mistake: []string{"VOCALS_BRIDGE_WEBHOOK_HMAC_KEY=wrong-key"}, fix: []string{"VOCALS_BRIDGE_WEBHOOK_HMAC_KEY=right-key"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data := t.TempDir()
			p := start(t, data, tc.mistake...)
			if r := postWith(t, p.public+tc.path, tc.body, tc.header); r.status/100 != 4 || r.a.Reason != tc.refusedAs {
				t.Fatalf("with the mistake: %d %+v, want a 4xx %s", r.status, r.a, tc.refusedAs)
			}
			eventually(t, "the dead letter", 10*time.Second, func() bool {
				return len(streamMessagesIn(t, p.natsURL, "VOCALS_DLQ", "vocals_dlq."+tc.refusedAs+".>")) == 1
			})
			if tc.refusedBefore {
				if out, ok := cli(t, p, "deadletters", "redrive", "--reason", tc.refusedAs); ok || !strings.Contains(out, "refused") {
					t.Fatalf("redrive before the fix exited ok=%t:\n%s", ok, out)
				}
			}
			if err := p.stop(t); err != nil {
				t.Fatal(err)
			}

			p = start(t, data, tc.fix...)
			out, ok := cli(t, p, "deadletters", "list", "--reason", tc.refusedAs)
			if !ok || !strings.Contains(out, tc.refusedAs) || strings.Count(out, "\n") != 2 {
				t.Fatalf("list:\n%s", out)
			}
			if out, ok := cli(t, p, "deadletters", "redrive", "--dry-run", "--reason", tc.refusedAs); !ok || !strings.Contains(out, "would_redrive") {
				t.Fatalf("dry run:\n%s", out)
			}
			if n := len(streamMessages(t, p.natsURL, tc.subject)); n != 0 {
				t.Fatalf("a dry run stored %d events", n)
			}
			if out, ok := cli(t, p, "deadletters", "redrive", "--reason", tc.refusedAs); !ok || !strings.Contains(out, "published "+tc.subject) {
				t.Fatalf("redrive:\n%s", out)
			}
			if out, ok := cli(t, p, "deadletters", "redrive", "--reason", tc.refusedAs); !ok || !strings.Contains(out, "already_redriven") {
				t.Fatalf("second redrive:\n%s", out)
			}
			// The provider's own retry, now accepted, is the same event.
			if tc.header != nil {
				ts, sig := sign("right-key", "redrive2", time.Now().Unix())
				tc.header = map[string]string{"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig}
			}
			if r := postWith(t, p.public+tc.path, tc.body, tc.header); r.status != 200 || !r.a.Duplicate {
				t.Errorf("the provider's retry after the redrive: %d %+v, want a duplicate", r.status, r.a)
			}
			if n := len(streamMessages(t, p.natsURL, tc.subject)); n != 1 {
				t.Errorf("%s stored %d times, want once", tc.subject, n)
			}
			if got := metric(t, p, `vocals_bridge_deadletter_redrives_total{outcome="published"}`); got != 1 {
				t.Errorf("redrives counted published %v, want 1", got)
			}
		})
	}
}

// A dead letter whose body was cut at deadletter_max_body is not
// redriven: the command says why and fails, and the dead letter stays.
func TestRedriveRefusesATruncatedDeadLetter(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir(), "VOCALS_BRIDGE_DEADLETTER_MAX_BODY=1024")
	body := []byte(`{"code":200,"msg":"` + strings.Repeat("x", 4096) + `","data":{"callbackType":"complete","task_id":"cut1","data":7}}`)
	if r := postWith(t, p.public+"/callbacks/vocals", body, nil); r.status != 400 {
		t.Fatalf("refused body: %d %+v", r.status, r.a)
	}
	eventually(t, "the dead letter", 10*time.Second, func() bool {
		return len(streamMessagesIn(t, p.natsURL, "VOCALS_DLQ", "vocals_dlq.>")) == 1
	})
	for range 2 {
		out, ok := cli(t, p, "deadletters", "redrive", "1")
		if ok || !strings.Contains(out, "not_redrivable: truncated") || !strings.Contains(out, "1 of 1 were not redriven") {
			t.Fatalf("redrive of a truncated dead letter exited ok=%t:\n%s", ok, out)
		}
	}
	if out, _ := cli(t, p, "deadletters", "show", "1"); !strings.Contains(out, "truncated: true") {
		t.Errorf("show:\n%s", out)
	}
}

// inspect tells a task's whole story: tracked through the submit proxy,
// two stages by callback, the lost third by a poll, and a refused
// callback naming it.
func TestInspectTellsATasksStory(t *testing.T) {
	t.Parallel()
	_, simURL := startSim(t, nil)
	p := start(t, t.TempDir(), trackingEnv(t, simURL)...).waitReady(t)
	task := submitTask(t, p.submit, "drop=complete")
	eventually(t, "the task's terminal event", 30*time.Second, func() bool { return terminal(t, p.natsURL, task) })
	ts, sig := sign(simHMAC, task, time.Now().Unix())
	r := postWith(t, p.public+"/callbacks/vocals?token="+cbToken, signedCallback(task, "bogus"),
		map[string]string{"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig})
	if r.status != 400 {
		t.Fatalf("a callback of an unknown type: %d %+v", r.status, r.a)
	}
	eventually(t, "the dead letter", 10*time.Second, func() bool {
		return len(streamMessagesIn(t, p.natsURL, "VOCALS_DLQ", "vocals_dlq.*.vocals."+task)) == 1
	})

	out, ok := cli(t, p, "inspect", task, "--json")
	if !ok {
		t.Fatalf("inspect: %s", out)
	}
	var s struct {
		Events []struct{ Stage, Origin, Subject string }
		// DeadLetters name the task; Tracked is empty once it ended.
		DeadLetters []struct {
			Reason string
			TaskID string `json:"task_id"`
		} `json:"dead_letters"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var story []string
	for _, e := range s.Events {
		story = append(story, e.Stage+"/"+e.Origin)
	}
	if got, want := strings.Join(story, " "), "submitted/ text/callback first/callback complete/poll"; got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	if len(s.DeadLetters) != 1 || s.DeadLetters[0].Reason != "unknown_callback_type" || s.DeadLetters[0].TaskID != task {
		t.Errorf("dead letters %+v", s.DeadLetters)
	}
	text, ok := cli(t, p, "inspect", task)
	if !ok || !strings.Contains(text, "events: 4") || !strings.Contains(text, "dead letters: 1") || !strings.Contains(text, "from poll") {
		t.Errorf("inspect:\n%s", text)
	}
}

// A redrive of more dead letters than one request takes goes page by page
// and reaches every one; those still refused stay and say so.
func TestRedrivePagesThroughManyDeadLetters(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir())
	const n = 105 // more than httpapi.MaxRedrivePage
	for i := range n {
		body := []byte(fmt.Sprintf(`{"code":200,"data":{"callbackType":"complete","task_id":"page%d","data":7}}`, i))
		if r := postWith(t, p.public+"/callbacks/vocals", body, nil); r.status != 400 {
			t.Fatalf("refused body %d: %d %+v", i, r.status, r.a)
		}
	}
	eventually(t, "the dead letters", 20*time.Second, func() bool {
		return len(streamMessagesIn(t, p.natsURL, "VOCALS_DLQ", "vocals_dlq.>")) == n
	})
	out, ok := cli(t, p, "deadletters", "redrive", "--reason", "invalid_field")
	if ok || strings.Count(out, ": refused: invalid_field") != n || !strings.Contains(out, fmt.Sprintf("%d of %d were not redriven", n, n)) {
		t.Fatalf("redrive of %d (ok=%t):\n%s", n, ok, out)
	}
}
