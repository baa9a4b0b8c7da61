package main_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/schematest"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/sunosim"
)

// Every media URL of every family's complete examples is archived once,
// with the digest of the bytes served, across two bridges and a kill -9 of
// one in the middle of a download; the hostile files are refused and
// reported in the archived event, and callbacks are answered 200
// throughout.
func TestBinaryArchive(t *testing.T) {
	t.Parallel()
	sim := sunosim.New(sunosim.Options{APIKey: "unused"})
	t.Cleanup(sim.Close)
	media := httptest.NewServer(sim)
	t.Cleanup(media.Close)
	n := startNATS(t)
	env := []string{
		"VOCALS_BRIDGE_ARCHIVE_ENABLED=true", "VOCALS_BRIDGE_ARCHIVE_ALLOWED_HOSTS=127.0.0.1",
		"VOCALS_BRIDGE_ARCHIVE_MAX_OBJECT_BYTES=2097152", "VOCALS_BRIDGE_ARCHIVE_TIMEOUT=5s",
		"VOCALS_BRIDGE_ARCHIVE_RETENTION=20s", "VOCALS_BRIDGE_ARCHIVE_RATE=200", "VOCALS_BRIDGE_ARCHIVE_CONCURRENCY=2",
	}
	dirA := t.TempDir()
	a := startBridge(t, n, dirA, env...)

	// The examples, their media moved to the simulator under the task's
	// own path; and a task of hostile files.
	type sentTask struct {
		fam  event.Family
		task string
	}
	var tasks []sentTask
	post := func(fam family.Family, task string, body []byte) {
		t.Helper()
		if r := postWith(t, a.public+fam.Path(), body, nil); r.status != http.StatusOK {
			t.Fatalf("%s %s: %d %+v", fam.Name, task, r.status, r.a)
		}
		tasks = append(tasks, sentTask{fam.Name, task})
	}
	// The first task's audio is slow: the bridge is killed while it downloads.
	slowTask := "arch-slow"
	gen, _ := family.Get(event.FamilyGenerate)
	post(gen, slowTask, musicBody(slowTask, media.URL, "slow-1.mp3", "cover-1.jpeg"))
	for fi, f := range family.All() {
		if !f.Name.Archives() {
			continue
		}
		for ei, ex := range f.Examples() {
			if ex.Stage != event.StageComplete {
				continue
			}
			task := fmt.Sprintf("arch%02d%02d", fi, ei)
			post(f, task, bytes.ReplaceAll(ex.For(task), []byte("https://example.cn/"), []byte(media.URL+sunosim.MediaPath+task+"/")))
		}
	}
	hostileTask := "arch-hostile"
	post(gen, hostileTask, musicBody(hostileTask, media.URL,
		"redirect.mp3", "html.jpeg", // a redirect to localhost; an error page
		"large.mp3", "flaky.jpeg", // over the 2 MiB limit; 503 twice, then fine
		"fail.mp3", "ok.jpeg", // 503 until the retention is over
		"crawl.mp3", "")) // slower than archive_timeout, every time
	// A host the allow-list does not name.
	post(gen, "arch-other-host", musicBody("arch-other-host", strings.Replace(media.URL, "127.0.0.1", "localhost", 1), "a.mp3", ""))

	slowName := slowTask + "/slow-1.mp3"
	eventually(t, "the slow download to start", 30*time.Second, func() bool { return sim.MediaHits(slowName) > 0 })
	a.kill(t)
	js := jetStreamAt(t, n.url)
	ctx := context.Background()
	obs, err := js.ObjectStore(ctx, event.MediaBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.GetInfo(ctx, "generate/"+slowTask+"/"+slowTask+"-1/audio"); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Fatalf("after a kill -9 mid-download the object is visible: %v", err)
	}
	// Every file the killed bridge had asked for without storing it was cut
	// off (the slow one, and whatever else was in flight): those, and only
	// those, may be downloaded twice.
	completes := map[string][]event.Media{}
	cut := map[string]bool{}
	for _, m := range streamMessages(t, n.url, "*.*.complete") {
		e, err := consumer.Decode(m.Subject, m.Header, m.Data)
		if err != nil {
			t.Fatal(err)
		}
		l, ok := e.Payload.(event.MediaLister)
		if !ok {
			continue
		}
		completes[string(e.Family)+"/"+e.Common().TaskID] = l.Media()
		for _, md := range l.Media() {
			name := strings.TrimPrefix(md.URL, media.URL+sunosim.MediaPath)
			if _, err := obs.GetInfo(ctx, event.ObjectName(e.Family, e.Common().TaskID, md)); err != nil && sim.MediaHits(name) > 0 {
				cut[name] = true
			}
		}
	}
	if !cut[slowName] {
		t.Fatal("the slow file was not being downloaded at the kill")
	}
	// Two bridges share what is left: the killed one back, and another.
	a = startBridge(t, n, dirA, env...)
	b := startBridge(t, n, t.TempDir(), env...)
	for _, p := range []*proc{a, b} { // callbacks are still answered at once
		if r := postWith(t, p.public+"/callbacks/vocals", faultCallback("during-"+p.public[len(p.public)-5:]), nil); r.status != http.StatusOK {
			t.Errorf("callback while archiving: %d %+v", r.status, r.a)
		}
	}

	archived := map[string]event.ArchivedV1{}
	eventually(t, "an archived event for every task", 90*time.Second, func() bool {
		for _, m := range streamMessages(t, n.url, "*.*.archived") {
			e, err := consumer.Decode(m.Subject, m.Header, m.Data)
			if err != nil {
				t.Fatalf("%s: %v", m.Subject, err)
			}
			schematest.ValidateArchived(t, e.Family, m.Data)
			archived[string(e.Family)+"/"+e.Common().TaskID], _ = consumer.DataOf[event.ArchivedV1](e)
		}
		return len(archived) == len(tasks)
	})
	if got := len(streamMessages(t, n.url, "*.*.archived")); got != len(tasks) {
		t.Errorf("%d archived events for %d tasks", got, len(tasks))
	}

	stored := 0
	want := map[string]string{ // the hostile task's files: the reason, or "" for kept
		"redirect.mp3": "host_not_allowed", "html.jpeg": "content_type", "large.mp3": "too_large",
		"flaky.jpeg": "", "fail.mp3": "expired", "ok.jpeg": "", "crawl.mp3": "expired",
	}
	for _, st := range tasks {
		key := string(st.fam) + "/" + st.task
		data, ms := archived[key], completes[key]
		if len(data.Objects) != len(ms) || len(ms) == 0 {
			t.Errorf("%s: %d objects for %d media", key, len(data.Objects), len(ms))
			continue
		}
		for i, o := range data.Objects {
			m := ms[i]
			file := o.URL[strings.LastIndex(o.URL, "/")+1:]
			reason, hostile := want[file]
			switch {
			case o.MediaID != m.ID || o.Kind != m.Kind || o.URL != m.URL:
				t.Errorf("%s: object %+v for media %+v", key, o, m)
			case st.task == "arch-other-host":
				if o.Status != event.ObjectFailed || o.Reason != "host_not_allowed" {
					t.Errorf("%s %s: %s %s, want failed host_not_allowed", key, file, o.Status, o.Reason)
				}
			case hostile && st.task == hostileTask && reason != "":
				if o.Status != event.ObjectFailed || o.Reason != reason || o.Error == "" {
					t.Errorf("%s %s: %s %s %q, want failed %s", key, file, o.Status, o.Reason, o.Error, reason)
				}
			default:
				name := strings.TrimPrefix(o.URL, media.URL+sunosim.MediaPath)
				body, ct := sunosim.MediaFile(name)
				sum := sha256.Sum256(body)
				if o.Status != event.ObjectArchived || o.SHA256 != hex.EncodeToString(sum[:]) || o.Size != int64(len(body)) || o.ContentType != ct ||
					o.Name != event.ObjectName(st.fam, st.task, m) {
					t.Errorf("%s %s: %+v, want archived, %d bytes of %s, sha256 %x", key, file, o, len(body), ct, sum)
					continue
				}
				if r, err := consumer.Fetch(ctx, js, data, o); err != nil {
					t.Errorf("%s: fetching %s: %v", key, o.Name, err)
				} else {
					got, err := io.ReadAll(r)
					_ = r.Close()
					if err != nil || !bytes.Equal(got, body) {
						t.Errorf("%s: reading %s back: %v (%d bytes)", key, o.Name, err, len(got))
					}
				}
				stored++
				// Downloaded once: twice only for the one the kill cut off.
				if hits := sim.MediaHits(name); hits != 1 && !(cut[name] && hits == 2) && !strings.Contains(name, sunosim.MediaFlaky) {
					t.Errorf("%s was downloaded %d times", name, hits)
				}
			}
		}
	}
	infos, err := obs.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != stored {
		t.Errorf("the bucket holds %d objects, the archived events name %d", len(infos), stored)
	}
	if stored < 30 {
		t.Errorf("only %d files archived: the examples hold more", stored)
	}
	// The metrics say it too: the files stored by the two bridges since the
	// kill (the rest of them, no more than all), each outcome of the
	// hostile files, and no backlog once the last archived event is out.
	var kept, refused float64
	for _, p := range []*proc{a, b} {
		kept += labelled(t, p, "vocals_bridge_archive_downloads_total", `outcome="archived"`)
		refused += labelled(t, p, "vocals_bridge_archive_downloads_total", `outcome="too_large"`)
	}
	if kept < 1 || kept > float64(stored) || refused < 1 {
		t.Errorf("the bridges counted %v files archived (of %d) and %v too large", kept, stored, refused)
	}
	eventually(t, "no archiving backlog", 30*time.Second, func() bool {
		return metric(t, b, "vocals_bridge_archive_pending_events") == 0 && metric(t, b, "vocals_bridge_archive_oldest_age_seconds") == 0
	})

	// tail shows the archived events alone when asked for them.
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(tctx, binary, "tail", "--nats-url", n.url, "--families", "generate", "--all", "--stages", "archived", "--max", "3").CombinedOutput()
	if err != nil {
		t.Fatalf("tail: %v\n%s", err, out)
	}
	text := string(out)
	if strings.Count(text, "generate          archived") != 3 || strings.Contains(text, "complete") ||
		!strings.Contains(text, "\n    audio ") {
		t.Errorf("tail --stages archived:\n%s", text)
	}
}

// labelled reads the sample of a metric with the given label, 0 when it
// has none yet.
func labelled(t *testing.T, p *proc, name, label string) float64 {
	t.Helper()
	_, body := get(t, p.admin+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, name+"{"+label+"} "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return v
		}
	}
	return 0
}

// musicBody is a complete callback of a music family with one track per
// pair of files (audio, image) under the simulator's media path for task.
func musicBody(task, base string, files ...string) []byte {
	var tracks []string
	for i := 0; i+1 < len(files); i += 2 {
		url := func(f string) string {
			if f == "" {
				return ""
			}
			return base + sunosim.MediaPath + task + "/" + f
		}
		tracks = append(tracks, fmt.Sprintf(`{"id":"%s-%d","audio_url":%q,"image_url":%q,"title":"t"}`, task, i/2+1, url(files[i]), url(files[i+1])))
	}
	return []byte(`{"code":200,"msg":"ok","data":{"callbackType":"complete","task_id":"` + task + `","data":[` + strings.Join(tracks, ",") + `]}}`)
}
