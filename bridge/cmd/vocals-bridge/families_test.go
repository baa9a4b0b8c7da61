package main_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
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

// A family that is off has no route; a renamed one publishes under its
// prefix; the stream captures exactly the enabled families' subjects.
func TestBinaryFamilySettings(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir(),
		"VOCALS_BRIDGE_DISABLED_FAMILIES=midi, video",
		"VOCALS_BRIDGE_FAMILY_SUBJECT_PREFIXES=lyrics=songtext,stems=audio.stems")
	midi, _ := family.Get(event.FamilyMIDI)
	ex, _ := midi.Example("s", event.StageComplete)
	if r := postWith(t, p.public+midi.Path(), ex.For("off1"), nil); r.status != http.StatusNotFound {
		t.Errorf("a disabled family answered %d", r.status)
	}
	for name, subject := range map[event.Family]string{
		event.FamilyLyrics: "songtext.on1.complete", event.FamilyStems: "audio.stems.on1.complete",
		event.FamilyWAV: "wav.on1.complete", event.FamilyVocals: "vocals.on1.complete",
	} {
		f, _ := family.Get(name)
		ex, _ := f.Example("s", event.StageComplete)
		if r := postWith(t, p.public+f.Path(), ex.For("on1"), nil); r.status != http.StatusOK || r.a.Subject != subject {
			t.Errorf("%s: %d %+v, want %s", name, r.status, r.a, subject)
		}
	}
	_, metrics := get(t, p.admin+"/metrics")
	if strings.Contains(metrics, `family="midi"`) || !strings.Contains(metrics, `family="wav"`) {
		t.Error("metrics should have series for enabled families only")
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
	nc, err := nats.Connect(url, nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo()
}
