package cloudevent_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ce "github.com/cloudevents/sdk-go/v2/event"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/schematest"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
)

var update = flag.Bool("update", false, "rewrite the golden events from the current output (go generate ./... does)")

// fixtures are the provider payloads shared with the decoder's tests.
const fixtures = "../callback/testdata"

// goldens are the events of the contract, kept with it in bridge/event.
var goldens = filepath.Join("..", "..", "event", "testdata", "golden")

func fsRead(name string) ([]byte, error) { return fs.ReadFile(event.Schemas(), name) }

var fixedTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newBuilder(t *testing.T, zone string) *cloudevent.Builder {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	return cloudevent.NewBuilder("vocals", "/vocals-bridge", "http://localhost:8080/schemas", loc).
		WithClock(func() time.Time { return fixedTime })
}

// TestGolden builds every fixture's event and compares it, byte for byte,
// with testdata/golden; each golden event must also match the schemas.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtures, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s (%v)", fixtures, err)
	}
	b := newBuilder(t, "UTC")
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cb, err := callback.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := b.Build(cb, cloudevent.Source{Body: raw})
			if err != nil {
				t.Fatal(err)
			}
			want := matchGolden(t, msg.Body, filepath.Join(goldens, name))
			schematest.ValidateEvent(t, want)
			if want := event.Subject("vocals", cb.TaskID, cb.Stage); msg.Subject != want {
				t.Errorf("subject %q, want %q", msg.Subject, want)
			}
		})
	}
}

// matchGolden compares body, indented, with the golden file (rewriting it
// first with -update) and returns the golden bytes.
func matchGolden(t *testing.T, body []byte, golden string) []byte {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./bridge/internal/cloudevent -update to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("event differs from %s:\n%s", golden, pretty.Bytes())
	}
	return want
}

func TestIDIsDeterministicPerTaskAndStage(t *testing.T) {
	a := event.ID("task1", event.StageComplete)
	if a != event.ID("task1", event.StageComplete) {
		t.Fatal("same task and stage gave different ids")
	}
	seen := map[string]string{}
	for _, task := range []string{"task1", "task2", "task1-", "task"} {
		for _, st := range event.Stages() {
			id := event.ID(task, st)
			if prev, dup := seen[id]; dup {
				t.Fatalf("id %s shared by %s and %s/%s", id, prev, task, st)
			}
			seen[id] = task + "/" + string(st)
		}
	}
	if len(a) != 36 || a[14] != '5' {
		t.Errorf("id %q is not a UUIDv5", a)
	}
}

// Retries are built at a later time but must carry the same id, so that the
// stream deduplicates them.
func TestRetryKeepsID(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixtures, "complete.json"))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := callback.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := newBuilder(t, "UTC").Build(cb, cloudevent.Source{Body: raw})
	later, _ := newBuilder(t, "UTC").WithClock(func() time.Time { return fixedTime.Add(21 * time.Minute) }).Build(cb, cloudevent.Source{Body: raw})
	if first.ID != later.ID || first.Subject != later.Subject {
		t.Errorf("retry changed id or subject: %s/%s vs %s/%s", first.ID, first.Subject, later.ID, later.Subject)
	}
}

func TestCreateTimeZone(t *testing.T) {
	tests := map[string]struct {
		zone, raw string
		want      string // RFC 3339 in UTC, "" for null
	}{
		"utc":             {"UTC", "2025-01-01 00:00:00", "2025-01-01T00:00:00Z"},
		"shanghai":        {"Asia/Shanghai", "2025-01-01 08:00:00", "2025-01-01T00:00:00Z"},
		"rfc3339 kept":    {"Asia/Shanghai", "2025-01-01T08:00:00+08:00", "2025-01-01T00:00:00Z"},
		"unknown format":  {"UTC", "01/02/2025", ""},
		"impossible date": {"UTC", "2025-13-40 99:99:99", ""},
		"absent":          {"UTC", "", ""},
		// Year 0 in Shanghai is year -1 in UTC, which RFC 3339 cannot
		// write: null, and the event still builds.
		"before year 0 in utc": {"Asia/Shanghai", "0000-01-01 07:00:00", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cb := callback.Callback{
				Family: event.FamilyVocals, TaskID: "t", Stage: event.StageFirst, Code: 200,
				Tracks: []callback.Track{{CreateTime: tc.raw}},
			}
			d := newBuilder(t, tc.zone).Data(cb)
			if _, err := newBuilder(t, tc.zone).Build(cb, cloudevent.Source{Body: nil}); err != nil {
				t.Errorf("does not build: %v", err)
			}
			got := d.Tracks[0]
			if got.CreateTimeRaw != tc.raw {
				t.Errorf("raw %q, want %q", got.CreateTimeRaw, tc.raw)
			}
			switch {
			case tc.want == "" && got.CreateTime != nil:
				t.Errorf("create_time %v, want null", got.CreateTime)
			case tc.want != "" && (got.CreateTime == nil || got.CreateTime.Format(time.RFC3339) != tc.want):
				t.Errorf("create_time %v, want %s", got.CreateTime, tc.want)
			}
		})
	}
}

func TestCodeReason(t *testing.T) {
	for code, want := range map[int]string{200: "success", 400: "validation_error", 408: "rate_limited",
		413: "conflict", 500: "server_error", 501: "generation_failed", 531: "failed_refunded", 999: "unknown"} {
		if got := event.CodeReason(code); got != want {
			t.Errorf("CodeReason(%d) = %q, want %q", code, got, want)
		}
	}
}

// A stage learned by polling gets the callback's id and subject, so the
// stream keeps whichever arrives first, and says where it came from.
func TestPollKeepsIDAndRecordsOrigin(t *testing.T) {
	cb := callback.Callback{Family: event.FamilyVocals, TaskID: "task1", Stage: event.StageComplete, CallbackType: "complete", Code: 200}
	b := newBuilder(t, "UTC")
	tests := []struct {
		origin event.Origin
		build  func() (outbound.Message, error)
	}{
		{event.OriginCallback, func() (outbound.Message, error) { return b.Build(cb, cloudevent.Source{Body: []byte(`{}`)}) }},
		{event.OriginPoll, func() (outbound.Message, error) {
			return b.Build(cb, cloudevent.Source{Body: []byte(`{"code":200}`), Origin: event.OriginPoll})
		}},
	}
	for _, tt := range tests {
		m, err := tt.build()
		if err != nil {
			t.Fatal(err)
		}
		schematest.ValidateEvent(t, m.Body)
		var ev map[string]any
		_ = json.Unmarshal(m.Body, &ev)
		// The attribute names are the contract's constants.
		if ev[event.OriginExtension] != string(tt.origin) || ev[event.BodyHashExtension] == nil ||
			m.ID != event.ID("task1", event.StageComplete) || m.Subject != "vocals.task1.complete" {
			t.Errorf("%s: origin %v body hash %v id %s subject %s", tt.origin, ev[event.OriginExtension], ev[event.BodyHashExtension], m.ID, m.Subject)
		}
	}
}

// A timeout is the bridge's verdict, on a subject, id and type of its own,
// so the provider's own error (same task, stage error) is never its
// duplicate; its data is an error, and a non-error is refused.
func TestTimeoutHasItsOwnStage(t *testing.T) {
	b := newBuilder(t, "UTC")
	for _, f := range family.All() {
		t.Run(string(f.Name), func(t *testing.T) {
			cb, err := f.Callback("task1", 408, "timeout: no terminal stage within 1h0m0s", nil)
			if err != nil {
				t.Fatal(err)
			}
			m, err := b.Build(cb, cloudevent.Source{Body: nil, Origin: event.OriginTimeout})
			if err != nil {
				t.Fatal(err)
			}
			real, err := b.Build(cb, cloudevent.Source{Body: []byte(`{"code":408}`)})
			if err != nil {
				t.Fatal(err)
			}
			if m.Stage != event.StageTimeout || m.ID != f.Name.ID("task1", event.StageTimeout) || m.ID == real.ID ||
				m.Subject != b.Prefix(f.Name)+".task1.timeout" || real.Subject != b.Prefix(f.Name)+".task1.error" {
				t.Errorf("timeout %s %s %s, provider's error %s %s", m.Stage, m.ID, m.Subject, real.ID, real.Subject)
			}
			schematest.ValidateFamilyEvent(t, filepath.Base(f.Name.TimeoutEventSchemaPath()), m.Body)
			var ev struct {
				Type   string
				Origin string
				Data   event.Common
			}
			if err := json.Unmarshal(m.Body, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Type != f.Name.Type(event.StageTimeout) || ev.Origin != "timeout" || ev.Data.Stage != "error" || ev.Data.Code != 408 {
				t.Errorf("event %+v", ev)
			}
			if err := schematest.CheckEvent(t, m.Body); f.Name == event.FamilyVocals && err == nil {
				t.Error("a timeout event passes as a provider stage event")
			}
		})
	}
	vocals, _ := family.Get(event.FamilyVocals)
	ok, err := vocals.Callback("task1", 200, "success", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(ok, cloudevent.Source{Body: nil, Origin: event.OriginTimeout}); err == nil {
		t.Error("a complete stage was built as a timeout")
	}
}

// The timeout event of the contract's example (bridge/event/testdata,
// checked there against the AsyncAPI catalog) is what the builder makes.
func TestTimeoutGolden(t *testing.T) {
	vocals, _ := family.Get(event.FamilyVocals)
	cb, err := vocals.Callback("task1", 408,
		"timeout: no terminal stage within 1h0m0s of tracking the task (last record-info status: PENDING)", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := newBuilder(t, "UTC").Build(cb, cloudevent.Source{Body: nil, Origin: event.OriginTimeout})
	if err != nil {
		t.Fatal(err)
	}
	matchGolden(t, m.Body, filepath.Join(goldens, "..", "timeout.json"))
}

func TestSubmitted(t *testing.T) {
	b := newBuilder(t, "UTC")
	req := []byte(`{"title":"Song <1>","callBackUrl":"https://bridge.invalid/callbacks/vocals?token=s3cret","model":"V5"}`)
	traced := tracing.Context{Parent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", State: "app=1"}
	tests := []struct {
		name    string
		via     event.Via
		request []byte
		trace   tracing.Context
		wantReq bool
		wantErr bool
	}{
		{"proxy with request", event.ViaProxy, req, tracing.Context{}, true, false},
		{"proxy within a trace", event.ViaProxy, req, traced, true, false},
		{"announced without one", event.ViaAnnounce, nil, tracing.Context{}, false, false},
		{"request not an object", event.ViaProxy, []byte(`[1]`), tracing.Context{}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := b.Submitted(tt.trace, event.FamilyVocals, "task1", tt.via, tt.request)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v", err)
			}
			if err != nil {
				return
			}
			schematest.ValidateSubmitted(t, m.Body)
			if m.Subject != "vocals_tasks.task1.submitted" || m.ID != event.ID("task1", event.StageSubmitted) || m.TaskID != "task1" {
				t.Errorf("message %+v", m)
			}
			if strings.Contains(string(m.Body), "s3cret") || strings.Contains(string(m.Body), "callBackUrl") {
				t.Errorf("callBackUrl leaked into the event: %s", m.Body)
			}
			var ev struct {
				Type        string
				Data        event.SubmittedV1
				TraceParent string `json:"traceparent"`
				TraceState  string `json:"tracestate"`
			}
			if err := json.Unmarshal(m.Body, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Type != event.SubmittedType || ev.Data.Via != string(tt.via) || (ev.Data.Request != nil) != tt.wantReq {
				t.Errorf("event %+v", ev)
			}
			if got := (tracing.Context{Parent: ev.TraceParent, State: ev.TraceState}); got != tt.trace || m.Trace != tt.trace {
				t.Errorf("trace %+v in the event, %+v in the message, want %+v", got, m.Trace, tt.trace)
			}
			if tt.wantReq && string(ev.Data.Request["title"]) != `"Song <1>"` {
				t.Errorf("request title %s", ev.Data.Request["title"])
			}
			if err := schematest.CheckEvent(t, m.Body); err == nil {
				t.Error("a submitted event passes as a stage event")
			}
		})
	}
}

// The hand-written encoder writes what sdk-go writes: each event, read by
// sdk-go and written again by it, is the same bytes. Sources and titles
// that need escaping, and times with nanoseconds, included.
func TestEncodingMatchesSDK(t *testing.T) {
	tests := []struct {
		name, source string
		at           time.Time
		title        string
	}{
		{"plain", "/vocals-bridge", fixedTime, "Iron Man"},
		{"nanoseconds", "/vocals-bridge", fixedTime.Add(123456789), "Iron Man"},
		{"source with space and accent", "/vocals bridge/é", fixedTime, "Iron Man"},
		{"title with html and unicode", "urn:vocals:bridge", fixedTime, `<b>"夜"</b> & \ ` + "\u2028\x01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := cloudevent.NewBuilder("vocals", tt.source, "http://localhost:8080/schemas", time.UTC).
				WithClock(func() time.Time { return tt.at })
			cb := callback.Callback{Family: event.FamilyVocals, TaskID: "t1", Stage: event.StageComplete, CallbackType: "complete", Code: 200,
				Tracks: []callback.Track{{Title: tt.title}}}
			m, err := b.Build(cb, cloudevent.Source{Body: []byte(`{}`)})
			if err != nil {
				t.Fatal(err)
			}
			s, err := b.Submitted(tracing.Context{}, event.FamilyVocals, "t1", event.ViaProxy, []byte(`{"title":`+strconvQuote(tt.title)+`}`))
			if err != nil {
				t.Fatal(err)
			}
			for _, body := range [][]byte{m.Body, s.Body} {
				var e ce.Event
				if err := json.Unmarshal(body, &e); err != nil {
					t.Fatalf("sdk-go cannot read %s: %v", body, err)
				}
				if err := e.Validate(); err != nil {
					t.Errorf("sdk-go finds the event invalid: %v", err)
				}
				again, err := e.MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, body) {
					t.Errorf("sdk-go writes\n%s\nthe encoder wrote\n%s", again, body)
				}
			}
		})
	}
	if _, err := newBuilder(t, "UTC").Build(callback.Callback{Family: event.FamilyVocals, TaskID: "a.b", Stage: event.StageText}, cloudevent.Source{Body: nil}); err == nil {
		t.Error("a task id that cannot be a subject token was built into an event")
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// The submitted event of the contract's example (bridge/event/testdata,
// checked there against the AsyncAPI catalog) is what the builder makes.
func TestSubmittedGolden(t *testing.T) {
	m, err := newBuilder(t, "UTC").Submitted(tracing.Context{}, event.FamilyVocals, "task1", event.ViaProxy, []byte(`{"title":"t","callBackUrl":"https://x/callbacks/vocals/secret"}`))
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, m.Body, "submitted.json")
	if strings.Contains(string(m.Body), "secret") {
		t.Error("the callBackUrl, with its token, reached the event")
	}
}

// The archived event of the contract's example, one file kept and one
// refused, is what the builder makes, and valid.
func TestArchivedGolden(t *testing.T) {
	data := event.ArchivedV1{TaskID: "task1", SourceEvent: event.ID("task1", event.StageComplete), Bucket: event.MediaBucket, Objects: []event.ArchivedObjectV1{{
		MediaID: "e231c0de-1a2b-4c3d-8e9f-0a1b8cadc7dc", Kind: event.MediaAudio, URL: "https://cdn.example.cn/e231.mp3", Status: event.ObjectArchived,
		Name: "vocals/task1/e231c0de-1a2b-4c3d-8e9f-0a1b8cadc7dc/audio", Size: 3175552,
		SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", ContentType: "audio/mpeg",
	}, {
		MediaID: "e231c0de-1a2b-4c3d-8e9f-0a1b8cadc7dc", Kind: event.MediaImage, URL: "https://elsewhere.example/e231.jpeg", Status: event.ObjectFailed,
		Reason: "host_not_allowed", Error: `host "elsewhere.example" is not on archive_allowed_hosts`,
	}}}
	m, err := newBuilder(t, "UTC").Archived(tracing.Context{}, event.FamilyVocals, "task1", data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "vocals.task1.archived" || m.ID != event.ID("task1", event.StageArchived) || m.Stage != event.StageArchived {
		t.Errorf("archived event: %+v", m)
	}
	schematest.ValidateArchived(t, event.FamilyVocals, m.Body)
	checkGolden(t, m.Body, "archived.json")
	if _, err := newBuilder(t, "UTC").Archived(tracing.Context{}, "nope", "task1", data); err == nil {
		t.Error("an unknown family's archived event was built")
	}
}

// checkGolden compares an event, indented, with bridge/event/testdata/name
// (written with -update).
func checkGolden(t *testing.T, body []byte, name string) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden := filepath.Join(goldens, "..", name)
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("the event differs from %s:\n%s", golden, pretty.Bytes())
	}
}

// TestFamilyGolden builds the event of every family's documented examples
// and compares it, byte for byte, with testdata/golden/<family>/; each
// must match its family's event schema.
func TestFamilyGolden(t *testing.T) {
	b := newBuilder(t, "UTC")
	for _, f := range family.All() {
		for _, ex := range f.Examples() {
			t.Run(string(f.Name)+"/"+ex.Name, func(t *testing.T) {
				p, err := f.Kind.Peek(ex.Body)
				if err != nil {
					t.Fatal(err)
				}
				cb, err := f.Kind.Decode(p, f.Name)
				if err != nil {
					t.Fatal(err)
				}
				msg, err := b.Build(cb, cloudevent.Source{Body: ex.Body})
				if err != nil {
					t.Fatal(err)
				}
				want := matchGolden(t, msg.Body, filepath.Join(goldens, string(f.Name), ex.Name+".json"))
				schematest.ValidateFamilyEvent(t, filepath.Base(f.Name.EventSchemaPath()), want)
			})
		}
	}
}
