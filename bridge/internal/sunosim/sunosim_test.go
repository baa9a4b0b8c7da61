package sunosim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/sunosim"
)

func TestParseFault(t *testing.T) {
	tests := []struct {
		spec    string
		want    func(f sunosim.Fault) bool
		wantErr bool
	}{
		{"", func(f sunosim.Fault) bool { return !f.Never && f.Drop == nil && f.Fail == 0 }, false},
		{"never", func(f sunosim.Fault) bool { return f.Never }, false},
		{"drop=text+first, duplicate", func(f sunosim.Fault) bool { return f.Drop["text"] && f.Drop["first"] && f.Duplicate }, false},
		{"late=1500ms", func(f sunosim.Fault) bool { return f.Late == 1500*time.Millisecond }, false},
		{"fail=531,pollerr=2", func(f sunosim.Fault) bool { return f.Fail == 531 && f.PollErr == 2 }, false},
		{"skip,stuck", func(f sunosim.Fault) bool { return f.Skip && f.Stuck }, false},
		{"fail=200", nil, true},
		{"drop=verse", nil, true},
		{"never=1", nil, true},
		{"late", nil, true},
		{"explode", nil, true},
	}
	for _, tt := range tests {
		f, err := sunosim.ParseFault(tt.spec)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseFault(%q) error %v, want error %v", tt.spec, err, tt.wantErr)
			continue
		}
		if err == nil && !tt.want(f) {
			t.Errorf("ParseFault(%q) = %+v", tt.spec, f)
		}
	}
}

// receiver records callbacks and answers each stage with its statuses in turn
// (200 once they run out).
type receiver struct {
	mu sync.Mutex
	// byStage answers a stage's callbacks with these statuses in turn,
	// then 200.
	byStage map[string][]int
	got     []received
}

type received struct {
	at                time.Time
	body              map[string]any
	timestamp, sig    string
	contentType, auth string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	stage, _ := body["data"].(map[string]any)["callbackType"].(string)
	rc.mu.Lock()
	rc.got = append(rc.got, received{time.Now(), body, r.Header.Get("X-Webhook-Timestamp"), r.Header.Get("X-Webhook-Signature"),
		r.Header.Get("Content-Type"), r.Header.Get("Authorization")})
	status := 200
	if st := rc.byStage[stage]; len(st) > 0 {
		status, rc.byStage[stage] = st[0], st[1:]
	}
	rc.mu.Unlock()
	w.WriteHeader(status)
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func submitTask(t *testing.T, simURL, key string, req map[string]any) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(req)
	hr, _ := http.NewRequest(http.MethodPost, simURL+sunosim.SubmitPath, bytes.NewReader(body))
	hr.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func validRequest(callback string) map[string]any {
	return map[string]any{
		"uploadUrl": "https://example.invalid/a.mp3", "prompt": "la la", "title": "Song",
		"style": "pop", "negativeTags": "metal", "callBackUrl": callback,
	}
}

func recordInfo(t *testing.T, simURL, key, id string) (int, map[string]any) {
	t.Helper()
	hr, _ := http.NewRequest(http.MethodGet, simURL+sunosim.RecordInfoPath+"?taskId="+id, nil)
	hr.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSubmitValidatesAndAuthenticates(t *testing.T) {
	sim := sunosim.New(sunosim.Options{APIKey: "k", Fault: sunosim.Fault{Stuck: true}})
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()

	tooLong := validRequest("http://127.0.0.1:1/cb")
	tooLong["title"] = string(bytes.Repeat([]byte("é"), 81))
	missing := validRequest("http://127.0.0.1:1/cb")
	delete(missing, "style")
	tests := []struct {
		name     string
		key      string
		req      map[string]any
		status   int
		code     float64
		hasTask  bool
		msgMatch string
	}{
		{"valid", "k", validRequest("http://127.0.0.1:1/cb"), 200, 200, true, "success"},
		{"wrong key", "x", validRequest("http://127.0.0.1:1/cb"), 401, 401, false, "invalid API key"},
		{"missing style", "k", missing, 200, 400, false, "style is required"},
		{"title of 81 runes", "k", tooLong, 200, 400, false, "title is longer than 80 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := submitTask(t, srv.URL, tt.key, tt.req)
			if status != tt.status || out["code"] != tt.code || out["msg"] != tt.msgMatch {
				t.Fatalf("got HTTP %d %v", status, out)
			}
			data, _ := out["data"].(map[string]any)
			id, _ := data["taskId"].(string)
			if tt.hasTask != (len(id) == 32) {
				t.Fatalf("task id %q", id)
			}
		})
	}
}

// A task runs text, first, complete on the scaled timeline, every callback
// signed; the first complete delivery fails twice and is retried on the
// scaled 1- and 5-minute schedule; record-info follows the stages.
func TestTimelineRetriesAndRecordInfo(t *testing.T) {
	// text and first succeed; complete is refused twice, then taken.
	rc := &receiver{byStage: map[string][]int{"complete": {500, 503}}}
	cbSrv := httptest.NewServer(rc)
	defer cbSrv.Close()
	const scale = 0.0005 // 20 s gaps -> 10 ms; 1 min -> 30 ms; 5 min -> 150 ms
	sim := sunosim.New(sunosim.Options{APIKey: "k", HMACKey: "hk", Scale: scale})
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()

	_, out := submitTask(t, srv.URL, "k", validRequest(cbSrv.URL))
	id := out["data"].(map[string]any)["taskId"].(string)
	waitFor(t, "five deliveries", 10*time.Second, func() bool {
		v, _ := sim.Task(id)
		return len(v.Deliveries) == 5
	})

	got := rc.all()
	var stages []string
	for _, g := range got {
		d := g.body["data"].(map[string]any)
		stages = append(stages, d["callbackType"].(string))
		if d["task_id"] != id || g.contentType != "application/json" || g.auth != "" {
			t.Errorf("callback %v headers %q %q", d, g.contentType, g.auth)
		}
		if g.sig != sunosim.Sign("hk", id, g.timestamp) {
			t.Errorf("signature %q does not match", g.sig)
		}
		if ts, err := strconv.ParseInt(g.timestamp, 10, 64); err != nil || time.Since(time.Unix(ts, 0)) > time.Minute {
			t.Errorf("timestamp %q", g.timestamp)
		}
	}
	// Deliveries of different stages run on their own schedules, so only
	// each stage's own are in order.
	slices.Sort(stages)
	if want := "[complete complete complete first text]"; fmt.Sprint(stages) != want {
		t.Fatalf("stages %v, want %s", stages, want)
	}
	var completes []time.Time
	for _, g := range got {
		if g.body["data"].(map[string]any)["callbackType"] == "complete" {
			completes = append(completes, g.at)
		}
	}
	if gap := completes[1].Sub(completes[0]); gap < time.Duration(float64(time.Minute)*scale) {
		t.Errorf("first retry after %s, before the scaled minute", gap)
	}
	if gap := completes[2].Sub(completes[1]); gap < time.Duration(float64(5*time.Minute)*scale) {
		t.Errorf("second retry after %s, before the scaled five minutes", gap)
	}
	v, _ := sim.Task(id)
	if len(v.Deliveries) != 5 || v.Deliveries[4].Attempt != 3 || v.Deliveries[4].Status != 200 {
		t.Errorf("deliveries %+v", v.Deliveries)
	}

	status, info := recordInfo(t, srv.URL, "k", id)
	data := info["data"].(map[string]any)
	if status != 200 || data["status"] != "SUCCESS" || data["taskId"] != id {
		t.Fatalf("record-info %d %v", status, info)
	}
	suno := data["response"].(map[string]any)["sunoData"].([]any)
	if len(suno) != 2 || suno[0].(map[string]any)["audioUrl"] == "" {
		t.Errorf("sunoData %v", suno)
	}
	if status, _ := recordInfo(t, srv.URL, "wrong", id); status != 401 {
		t.Errorf("wrong key: HTTP %d", status)
	}
}

// A refused callback is tried four times in all, then never again.
func TestGivesUpAfterThreeRetries(t *testing.T) {
	var calls atomic.Int32
	cbSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(500)
	}))
	defer cbSrv.Close()
	sim := sunosim.New(sunosim.Options{APIKey: "k", Scale: 0.0002, Fault: sunosim.Fault{Skip: true}})
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	_, out := submitTask(t, srv.URL, "k", validRequest(cbSrv.URL))
	id := out["data"].(map[string]any)["taskId"].(string)
	waitFor(t, "the callback to be given up", 10*time.Second, func() bool {
		v, _ := sim.Task(id)
		if len(v.Abandoned) == 0 && v.Settled {
			t.Fatalf("settled with a retry still to come: %+v", v)
		}
		return len(v.Abandoned) == 1
	})
	waitFor(t, "the task settled", 5*time.Second, func() bool {
		v, _ := sim.Task(id)
		return v.Settled
	})
	if n := calls.Load(); n != 4 {
		t.Fatalf("%d attempts before giving up, want 4", n)
	}
	v, _ := sim.Task(id)
	if v.Status != "SUCCESS" {
		t.Errorf("status %s", v.Status)
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		fault      string
		wantStages string
		status     string
		errorCode  any
	}{
		{"never", "[]", "SUCCESS", nil},
		{"drop=first", "[text complete]", "SUCCESS", nil},
		{"skip", "[complete]", "SUCCESS", nil},
		{"duplicate,drop=text+first", "[complete complete]", "SUCCESS", nil},
		{"fail=531", "[text error]", "GENERATE_AUDIO_FAILED", float64(531)},
		{"fail=400,drop=text", "[error]", "SENSITIVE_WORD_ERROR", float64(400)},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			rc := &receiver{}
			cbSrv := httptest.NewServer(rc)
			defer cbSrv.Close()
			sim := sunosim.New(sunosim.Options{APIKey: "k", Scale: 0.0005})
			srv := httptest.NewServer(sim)
			defer srv.Close()
			req := validRequest(cbSrv.URL)
			req[sunosim.FaultField] = tt.fault
			_, out := submitTask(t, srv.URL, "k", req)
			id := out["data"].(map[string]any)["taskId"].(string)
			waitFor(t, "a terminal status", 5*time.Second, func() bool {
				v, _ := sim.Task(id)
				return v.Status != "PENDING" && v.Status != "TEXT_SUCCESS" && v.Status != "FIRST_SUCCESS"
			})
			waitFor(t, "every callback sent", 5*time.Second, func() bool {
				v, _ := sim.Task(id)
				return v.Settled
			})
			sim.Close()
			// Each delivery retries on its own schedule, as the provider's
			// do, so stages 10 ms apart may arrive in either order on a busy
			// machine: which were sent is the behaviour.
			var stages []string
			for _, g := range rc.all() {
				stages = append(stages, g.body["data"].(map[string]any)["callbackType"].(string))
			}
			want := strings.Fields(strings.Trim(tt.wantStages, "[]"))
			slices.Sort(stages)
			slices.Sort(want)
			if !slices.Equal(stages, want) {
				t.Errorf("callbacks %v, want %s in any order", stages, tt.wantStages)
			}
			_, info := recordInfo(t, srv.URL, "k", id)
			data := info["data"].(map[string]any)
			if data["status"] != tt.status || data["errorCode"] != tt.errorCode {
				t.Errorf("record-info status %v errorCode %v", data["status"], data["errorCode"])
			}
		})
	}
}

func TestRecordInfoFaultsAndRateLimit(t *testing.T) {
	sim := sunosim.New(sunosim.Options{APIKey: "k", PollLimit: 3})
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	req := validRequest("http://127.0.0.1:1/cb")
	req[sunosim.FaultField] = "stuck,pollerr=1"
	_, out := submitTask(t, srv.URL, "k", req)
	id := out["data"].(map[string]any)["taskId"].(string)

	var statuses []int
	for range 5 {
		s, _ := recordInfo(t, srv.URL, "k", id)
		statuses = append(statuses, s)
	}
	// One simulated error, two answers, then over three in a second.
	if fmt.Sprint(statuses) != "[500 200 200 429 429]" {
		t.Fatalf("statuses %v", statuses)
	}
	if _, info := recordInfo(t, srv.URL, "k", "0000"); info["code"] != float64(404) {
		t.Errorf("unknown task: %v", info)
	}
	v, _ := sim.Task(id)
	if v.PollErrors != 1 || v.RateLimited != 2 || len(v.Polls) != 5 || v.Status != "PENDING" {
		t.Errorf("view %+v", v)
	}
}
