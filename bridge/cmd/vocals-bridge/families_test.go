package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/schematest"
)

// Every family's documented examples, in both providers' spellings, go
// through the real binary, signed and unsigned, to their family's subject
// exactly once (the retry is a duplicate), as schema-valid events that
// bridge/consumer decodes into the family's data type.
func TestBinaryEveryFamily(t *testing.T) {
	t.Parallel()
	const key = "family-key"
	for _, signed := range []bool{false, true} {
		t.Run(map[bool]string{false: "unsigned", true: "signed"}[signed], func(t *testing.T) {
			t.Parallel()
			var env []string
			if signed {
				env = append(env, "VOCALS_BRIDGE_WEBHOOK_HMAC_KEY="+key)
			}
			p := start(t, t.TempDir(), env...)
			type sent struct {
				fam     event.Family
				example string
				subject string
				stage   event.Stage
			}
			var (
				mu   sync.Mutex
				want []sent
				wg   sync.WaitGroup
			)
			for fi, f := range family.All() {
				wg.Add(1)
				go func() { // the families at once, each example in turn
					defer wg.Done()
					for ei, ex := range f.Examples() {
						task := fmt.Sprintf("f%02de%02d", fi, ei)
						hdr := map[string]string{}
						if signed {
							ts, sig := sign(key, task, time.Now().Unix())
							hdr["X-Webhook-Timestamp"], hdr["X-Webhook-Signature"] = ts, sig
							// A wrong signature is refused first, whatever the family.
							bad := map[string]string{"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig[:len(sig)-2] + "AA"}
							if r := postWith(t, p.public+f.Path(), ex.For(task), bad); r.status != http.StatusUnauthorized {
								t.Errorf("%s/%s with a wrong signature: %d %+v", f.Name, ex.Name, r.status, r.a)
							}
						}
						subject := string(f.Name) + "." + task + "." + string(ex.Stage)
						for try := range 2 {
							r := postWith(t, p.public+f.Path(), ex.For(task), hdr)
							if r.status != http.StatusOK || r.a.Subject != subject || r.a.Duplicate != (try == 1) {
								t.Errorf("%s/%s try %d: %d %+v, want 200 on %s", f.Name, ex.Name, try, r.status, r.a, subject)
							}
						}
						mu.Lock()
						want = append(want, sent{f.Name, ex.Name, subject, ex.Stage})
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			stored := streamMessages(t, p.natsURL, ">")
			bySubject := map[string]int{}
			for _, m := range stored {
				bySubject[m.Subject]++
				e, err := consumer.Decode(m.Subject, m.Header, m.Data)
				if err != nil {
					t.Errorf("%s: %v", m.Subject, err)
					continue
				}
				if !strings.HasPrefix(m.Subject, string(e.Family)+".") {
					t.Errorf("%s holds a %s event", m.Subject, e.Family)
				}
				if fmt.Sprintf("%T", e.Payload) != fmt.Sprintf("%T", e.Family.NewData())[1:] {
					t.Errorf("%s: payload %T", m.Subject, e.Payload)
				}
				schematest.ValidateFamilyEvent(t, filepath.Base(e.Family.EventSchemaPath()), m.Data)
			}
			for _, s := range want {
				if bySubject[s.subject] != 1 {
					t.Errorf("%s/%s: %d messages on %s, want 1", s.fam, s.example, bySubject[s.subject], s.subject)
				}
			}
			if len(stored) != len(want) {
				t.Errorf("%d messages stored, %d callbacks sent", len(stored), len(want))
			}
		})
	}
}

// A family that is off refuses its callbacks into the dead letters; a
// renamed one publishes under its prefix; the stream captures exactly the
// enabled families' subjects; the token works in both forms on every
// route; a refused callback's dead letter names its family and task.
func TestBinaryFamilySettings(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir(),
		"VOCALS_BRIDGE_DISABLED_FAMILIES=midi, video",
		"VOCALS_BRIDGE_FAMILY_SUBJECT_PREFIXES=lyrics=songtext,stems=audio.stems",
		"VOCALS_BRIDGE_CALLBACK_TOKEN=fam-token")
	midi, _ := family.Get(event.FamilyMIDI)
	ex, _ := midi.Example("s", event.StageComplete)
	if r := postWith(t, p.public+midi.Path()+"?token=fam-token", ex.For("off1"), nil); r.status != http.StatusNotFound || r.a.Reason != "family_disabled" {
		t.Errorf("a disabled family answered %d %+v", r.status, r.a)
	}
	for name, subject := range map[event.Family]string{
		event.FamilyLyrics: "songtext.on1.complete", event.FamilyStems: "audio.stems.on1.complete",
		event.FamilyWAV: "wav.on1.complete", event.FamilyVocals: "vocals.on1.complete",
	} {
		f, _ := family.Get(name)
		ex, _ := f.Example("s", event.StageComplete)
		if r := postWith(t, p.public+f.Path(), ex.For("on1"), nil); r.status != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d", name, r.status)
		}
		if r := postWith(t, p.public+f.Path()+"?token=fam-token", ex.For("on1"), nil); r.status != http.StatusOK || r.a.Subject != subject {
			t.Errorf("%s: %d %+v, want %s", name, r.status, r.a, subject)
		}
		if r := postWith(t, p.public+f.Path()+"/fam-token", ex.For("on1"), nil); r.status != http.StatusOK || !r.a.Duplicate {
			t.Errorf("%s with the token in the path: %d %+v, want a duplicate", name, r.status, r.a)
		}
	}
	if r := postWith(t, p.public+"/callbacks/lyrics?token=fam-token", []byte(`{"code":200,"data":{"taskId":"a","task_id":"b"}}`), nil); r.status != http.StatusBadRequest || r.a.Reason != "conflicting_task_id" {
		t.Errorf("two task ids: %d %+v", r.status, r.a)
	}
	eventually(t, "the dead letters", 10*time.Second, func() bool { return len(streamMessagesIn(t, p.natsURL, "VOCALS_DLQ", ">")) == 2 })
	dead := streamMessagesIn(t, p.natsURL, "VOCALS_DLQ", ">")
	if dl := dead[0]; dl.Header.Get("Vocals-Family") != "midi" || dl.Subject != "vocals_dlq.family_disabled.midi.off1" {
		t.Errorf("dead letter %s with headers %v", dl.Subject, dl.Header)
	}
	if dl := dead[1]; dl.Header.Get("Vocals-Family") != "lyrics" || dl.Subject != "vocals_dlq.conflicting_task_id.lyrics._" {
		t.Errorf("dead letter %s with headers %v", dl.Subject, dl.Header)
	}
	_, metrics := get(t, p.admin+"/metrics")
	if strings.Contains(metrics, `family="midi",stage="complete"`) || !strings.Contains(metrics, `family="midi",reason="family_disabled"`) ||
		!strings.Contains(metrics, `family="wav"`) {
		t.Error("metrics should have series for enabled families, and only refusals for disabled ones")
	}
	info := streamInfo(t, p.natsURL, "VOCALS")
	subjects := strings.Join(info.Config.Subjects, " ")
	for _, s := range []string{"songtext.>", "audio.stems.>", "wav.>", "vocals.>"} {
		if !strings.Contains(" "+subjects+" ", " "+s+" ") {
			t.Errorf("stream subjects %v lack %s", info.Config.Subjects, s)
		}
	}
	for _, s := range []string{"midi.>", "video.>", "lyrics.>"} {
		if strings.Contains(" "+subjects+" ", " "+s+" ") {
			t.Errorf("stream subjects %v include %s", info.Config.Subjects, s)
		}
	}
}

func streamInfo(t *testing.T, url, stream string) *jetstream.StreamInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := jetStreamAt(t, url).Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo()
}

// Every family's tasks go through the submit proxy to the simulator,
// which never calls back (or fails and never calls back); the bridge
// recovers each terminal stage by polling the family's details endpoint
// with its vocabulary, once, with origin poll, and publishes the
// submitted event under the family's task subjects.
func TestBinaryEveryFamilyRecoveredByPolling(t *testing.T) {
	t.Parallel()
	_, simURL := startSim(t, nil)
	// 32 submissions at once from one address: above the default per-source
	// limit, which TestSubmitProxyTokenAndLimit covers.
	p := start(t, t.TempDir(), trackingEnv(t, simURL, "VOCALS_BRIDGE_SUBMIT_RATE_LIMIT=100")...).waitReady(t)
	type task struct {
		f     family.Family
		stage event.Stage
	}
	tasks := map[string]task{}
	for _, f := range family.All() {
		for fault, stage := range map[string]event.Stage{"never": event.StageComplete, "fail=501,never": event.StageError} {
			req := addVocals(fault)
			delete(req, "callBackUrl")
			body, _ := json.Marshal(req)
			hr, _ := http.NewRequest(http.MethodPost, p.submit+f.Submit, bytes.NewReader(body))
			hr.Header.Set("Content-Type", "application/json")
			resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var ans struct{ Data struct{ TaskID string } }
			if json.Unmarshal(raw, &ans) != nil || ans.Data.TaskID == "" || resp.Header.Get("Vocals-Tracked") != "true" {
				t.Fatalf("%s: submit HTTP %d %s (tracked %q)", f.Name, resp.StatusCode, raw, resp.Header.Get("Vocals-Tracked"))
			}
			tasks[ans.Data.TaskID] = task{f, stage}
		}
	}
	done := func() bool {
		n := 0
		for _, m := range streamMessages(t, p.natsURL, ">") {
			if strings.HasSuffix(m.Subject, ".complete") || strings.HasSuffix(m.Subject, ".error") {
				n++
			}
		}
		return n >= len(tasks)
	}
	eventually(t, "a terminal event for every family's tasks", 60*time.Second, done)
	eventually(t, "tracking to end", 10*time.Second, func() bool { return metric(t, p, "vocals_bridge_tracking_tasks") == 0 })
	seen := map[string]int{}
	for _, m := range streamMessages(t, p.natsURL, ">") {
		seen[m.Subject]++
		e, err := consumer.Decode(m.Subject, m.Header, m.Data)
		if strings.HasSuffix(m.Subject, ".submitted") {
			fam := event.Family(strings.TrimSuffix(strings.SplitN(m.Subject, ".", 2)[0], "_tasks"))
			name := string(fam) + ".submitted-event.schema.json"
			if fam == event.FamilyVocals {
				name = "submitted-event.schema.json"
			}
			schematest.ValidateFamilyEvent(t, name, m.Data)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", m.Subject, err)
			continue
		}
		task, ok := tasks[e.CloudEvent.Subject()]
		// A poll may also find a music task at text or first on its way.
		passing := task.f.Name.Staged() && (e.Stage == event.StageText || e.Stage == event.StageFirst)
		if !ok || e.Family != task.f.Name || e.Stage != task.stage && !passing || e.Origin() != event.OriginPoll {
			t.Errorf("%s: %s %s from %s, want %s %s from poll", m.Subject, e.Family, e.Stage, e.Origin(), task.f.Name, task.stage)
		}
		schematest.ValidateFamilyEvent(t, filepath.Base(e.Family.EventSchemaPath()), m.Data)
	}
	for id, task := range tasks {
		subject := string(task.f.Name) + "." + id + "." + string(task.stage)
		if seen[subject] != 1 {
			t.Errorf("%s: %d events on %s", task.f.Name, seen[subject], subject)
		}
		if seen[string(task.f.Name)+"_tasks."+id+".submitted"] != 1 {
			t.Errorf("%s: no submitted event for %s", task.f.Name, id)
		}
	}
}
