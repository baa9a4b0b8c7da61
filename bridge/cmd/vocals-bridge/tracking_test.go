package main_test

// End-to-end tests of task tracking: the provider simulator (in-process,
// on loopback), the real bridge binary and real JetStream. Lost callbacks
// must be recovered by polling, with no duplicate whichever of poll and
// callback comes first.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/schematest"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/sunosim"
)

const (
	simKey  = "sk-canary-7f3a9e1c"  // the provider API key; must never leak
	simHMAC = "hmac-for-the-sim"    // signs the simulator's callbacks
	cbToken = "tok-canary-55d0b2e4" // the callback token inside callBackUrl
)

// startSim runs the simulator on loopback at 1/200 of real time: the
// 21-minute retry span takes 6.3 s. Stages are 1.1 s apart (text at 1.1 s,
// complete at 3.3 s): the provider's signature covers only the task id and
// the second, so two stages signed in the same second share a signature,
// and the bridge's replay cache refuses the second body (the provider's
// retry, with a fresh timestamp, then goes through). front, if set, sees
// every request first and may answer it.
func startSim(t *testing.T, front func(w http.ResponseWriter, r *http.Request) bool) (*sunosim.Sim, string) {
	t.Helper()
	sim := sunosim.New(sunosim.Options{APIKey: simKey, HMACKey: simHMAC, Scale: 0.005, StageGap: 220 * time.Second})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if front != nil && front(w, r) {
			return
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	return sim, srv.URL
}

// trackingEnv configures a bridge to track tasks against simURL, with its
// public listener on a known port so callBackUrl can name it.
func trackingEnv(t *testing.T, simURL string, extra ...string) []string {
	t.Helper()
	port := freePort(t)
	return append([]string{
		fmt.Sprintf("VOCALS_BRIDGE_HTTP_ADDR=127.0.0.1:%d", port),
		"VOCALS_BRIDGE_TRACKING_ENABLED=true",
		"VOCALS_BRIDGE_PROVIDER_BASE_URL=" + simURL,
		"VOCALS_BRIDGE_PROVIDER_API_KEY=" + simKey,
		"VOCALS_BRIDGE_TRACKING_POLL_AFTER=1s",
		"VOCALS_BRIDGE_TRACKING_POLL_INTERVAL=1s",
		"VOCALS_BRIDGE_TRACKING_POLL_RATE=50",
		"VOCALS_BRIDGE_WEBHOOK_HMAC_KEY=" + simHMAC,
		"VOCALS_BRIDGE_CALLBACK_TOKEN=" + cbToken,
		fmt.Sprintf("VOCALS_BRIDGE_SUBMIT_ADDR=127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("VOCALS_BRIDGE_SUBMIT_CALLBACK_URL=http://127.0.0.1:%d/callbacks/vocals?token=%s", port, cbToken),
	}, extra...)
}

// submitVia posts an add-vocals request to the bridge's submit proxy.
func submitVia(t *testing.T, proxy, auth string, req map[string]any) (*http.Response, []byte) {
	t.Helper()
	header := http.Header{}
	if auth != "" {
		header.Set("Authorization", auth)
	}
	return submitWith(t, proxy, header, req)
}

// submitWith posts an add-vocals submission with these headers besides
// the Content-Type.
func submitWith(t *testing.T, proxy string, header http.Header, req map[string]any) (*http.Response, []byte) {
	t.Helper()
	body, _ := json.Marshal(req)
	hr, _ := http.NewRequest(http.MethodPost, proxy+"/api/v1/generate/add-vocals", bytes.NewReader(body))
	hr.Header = header.Clone()
	hr.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

func addVocals(fault string) map[string]any {
	req := map[string]any{
		"uploadUrl": "https://files.invalid/in.mp3", "prompt": "[Verse] la", "title": "Song",
		"style": "pop", "negativeTags": "metal", "callBackUrl": "https://ignored.invalid/cb",
	}
	if fault != "" {
		req[sunosim.FaultField] = fault
	}
	return req
}

// submitTask submits through the proxy and returns the task id.
func submitTask(t *testing.T, proxy, fault string) string {
	t.Helper()
	resp, raw := submitVia(t, proxy, "", addVocals(fault))
	var ans struct {
		Code int
		Data struct{ TaskID string }
	}
	if err := json.Unmarshal(raw, &ans); err != nil || resp.StatusCode != 200 || ans.Code != 200 || ans.Data.TaskID == "" {
		t.Fatalf("submit: HTTP %d %s", resp.StatusCode, raw)
	}
	if got := resp.Header.Get("Vocals-Tracked"); got != "true" {
		t.Fatalf("Vocals-Tracked %q", got)
	}
	return ans.Data.TaskID
}

// ev is a stored event, decoded.
type ev struct {
	Subject string
	Type    string `json:"type"`
	Origin  string `json:"origin"`
	Data    struct {
		Code  int    `json:"code"`
		Msg   string `json:"msg"`
		Stage string `json:"stage"`
		Via   string `json:"via"`
	} `json:"data"`
	raw []byte
}

func (e ev) String() string { return e.Subject + "(" + e.Origin + ")" }

func events(t *testing.T, natsURL, filter string) []ev {
	t.Helper()
	var out []ev
	for _, m := range streamMessages(t, natsURL, filter) {
		var e ev
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Fatalf("%s: %v", m.Subject, err)
		}
		e.Subject, e.raw = m.Subject, m.Data
		out = append(out, e)
	}
	return out
}

// terminal reports whether every task has a complete or error event.
func terminal(t *testing.T, natsURL string, tasks ...string) bool {
	t.Helper()
	have := map[string]bool{}
	for _, e := range events(t, natsURL, "vocals.>") {
		if strings.HasSuffix(e.Subject, ".complete") || strings.HasSuffix(e.Subject, ".error") || strings.HasSuffix(e.Subject, ".timeout") {
			have[strings.Split(e.Subject, ".")[1]] = true
		}
	}
	for _, task := range tasks {
		if !have[task] {
			return false
		}
	}
	return true
}

// Lost callbacks are recovered by polling, each stage stored once, with
// its origin; tracking ends with the terminal stage. The first poll comes
// at 5 s, after every stage (3.3 s), so origins are deterministic.
func TestTrackingRecoversLostCallbacks(t *testing.T) {
	t.Parallel()
	_, simURL := startSim(t, nil)
	p := start(t, t.TempDir(), trackingEnv(t, simURL, "VOCALS_BRIDGE_TRACKING_POLL_AFTER=5s")...).waitReady(t)
	if p.submit == "" {
		t.Fatal("no submit listener")
	}
	tasks := map[string]string{} // fault -> task
	for _, fault := range []string{"", "never", "drop=complete", "fail=531,never"} {
		tasks[fault] = submitTask(t, p.submit, fault)
	}
	all := []string{tasks[""], tasks["never"], tasks["drop=complete"], tasks["fail=531,never"]}
	eventually(t, "a terminal event for every task", 30*time.Second, func() bool { return terminal(t, p.natsURL, all...) })
	eventually(t, "tracking to end", 10*time.Second, func() bool { return metric(t, p, "vocals_bridge_tracking_tasks") == 0 })

	got := map[string]ev{}
	for _, e := range events(t, p.natsURL, "vocals.>") {
		if _, dup := got[e.Subject]; dup {
			t.Errorf("%s stored twice", e.Subject)
		}
		got[e.Subject] = e
		schematest.ValidateEvent(t, e.raw)
	}
	want := []struct {
		subject, origin string
		code            int
	}{
		{"vocals." + tasks[""] + ".text", "callback", 200},
		{"vocals." + tasks[""] + ".first", "callback", 200},
		{"vocals." + tasks[""] + ".complete", "callback", 200},
		{"vocals." + tasks["never"] + ".complete", "poll", 200},
		{"vocals." + tasks["drop=complete"] + ".text", "callback", 200},
		{"vocals." + tasks["drop=complete"] + ".first", "callback", 200},
		{"vocals." + tasks["drop=complete"] + ".complete", "poll", 200},
		{"vocals." + tasks["fail=531,never"] + ".error", "poll", 531},
	}
	for _, w := range want {
		e, ok := got[w.subject]
		if !ok {
			t.Errorf("no event on %s", w.subject)
			continue
		}
		if e.Origin != w.origin || e.Data.Code != w.code {
			t.Errorf("%s: origin %q code %d, want %q %d", w.subject, e.Origin, e.Data.Code, w.origin, w.code)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d stage events, want %d: %v", len(got), len(want), got)
	}
	subs := events(t, p.natsURL, "vocals_tasks.>")
	if len(subs) != len(all) {
		t.Errorf("%d submitted events, want %d", len(subs), len(all))
	}
	for _, e := range subs {
		schematest.ValidateSubmitted(t, e.raw)
		if e.Data.Via != "proxy" {
			t.Errorf("%s via %q", e.Subject, e.Data.Via)
		}
	}
	if n := metric(t, p, `vocals_bridge_tracking_stages_total{origin="poll"}`); n != 3 {
		t.Errorf("%v stages by poll, want 3", n)
	}
	if n := metric(t, p, `vocals_bridge_tracking_started_total{via="proxy"}`); n != 4 {
		t.Errorf("%v tasks started, want 4", n)
	}
}

// A callback that arrives after the poll stored its stage is a duplicate:
// answered 200 (so the provider stops retrying), not stored again.
func TestLateCallbackAfterPollIsNoDuplicate(t *testing.T) {
	t.Parallel()
	sim, simURL := startSim(t, nil)
	p := start(t, t.TempDir(), trackingEnv(t, simURL)...).waitReady(t)
	task := submitTask(t, p.submit, "skip,late=3s")
	eventually(t, "the late callback", 20*time.Second, func() bool {
		v, _ := sim.Task(task)
		return len(v.Deliveries) > 0
	})
	v, _ := sim.Task(task)
	if d := v.Deliveries[0]; d.Status != 200 || d.Stage != "complete" {
		t.Fatalf("late delivery %+v", d)
	}
	eventually(t, "the simulator done with the task", 20*time.Second, func() bool {
		v, _ := sim.Task(task)
		return v.Settled
	})
	if v, _ := sim.Task(task); len(v.Deliveries) != 1 {
		t.Errorf("deliveries %+v: the bridge made the provider retry", v.Deliveries)
	}
	evs := events(t, p.natsURL, "vocals."+task+".>")
	if len(evs) != 1 || evs[0].Origin != "poll" {
		t.Fatalf("events %+v, want one complete from the poll", evs)
	}
	eventually(t, "the duplicate logged", 5*time.Second, func() bool { return strings.Contains(p.log(), `"outcome":"duplicate"`) })
}

// Tracking is per family and task id: a lyrics callback (validly signed)
// for the id of a tracked add-vocals task whose callbacks are all lost
// ends nothing; the add-vocals task is still polled and recovered.
func TestAnotherFamilysCallbackDoesNotEndATrackedTask(t *testing.T) {
	t.Parallel()
	_, simURL := startSim(t, nil)
	p := start(t, t.TempDir(), trackingEnv(t, simURL, "VOCALS_BRIDGE_TRACKING_POLL_AFTER=4s")...).waitReady(t)
	task := submitTask(t, p.submit, "never")
	lyrics, _ := family.Get(event.FamilyLyrics)
	ex, _ := lyrics.Example("k", event.StageComplete)
	ts, sig := sign(simHMAC, task, time.Now().Unix())
	r := postWith(t, p.public+"/callbacks/lyrics?token="+cbToken, ex.For(task), map[string]string{"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig})
	if r.status != 200 || r.a.Subject != "lyrics."+task+".complete" {
		t.Fatalf("the lyrics callback: %d %+v", r.status, r.a)
	}
	eventually(t, "add-vocals' complete from a poll", 30*time.Second, func() bool {
		for _, e := range events(t, p.natsURL, "vocals."+task+".complete") {
			return e.Origin == "poll"
		}
		return false
	})
}

// Two replicas share the bucket: each task is polled once, by one of them.
// The first poll (at 5 s) finds each task complete, so one poll is all a
// task needs.
func TestTwoReplicasPollEachTaskOnce(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	sim, simURL := startSim(t, nil)
	replicas := []*proc{
		startBridge(t, n, t.TempDir(), trackingEnv(t, simURL, "VOCALS_BRIDGE_TRACKING_POLL_AFTER=5s")...).waitReady(t),
		startBridge(t, n, t.TempDir(), trackingEnv(t, simURL, "VOCALS_BRIDGE_TRACKING_POLL_AFTER=5s")...).waitReady(t),
	}
	nc, err := nats.Connect(n.url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var tasks []string
	for range 20 {
		// Submitted directly, as a service that does not use the proxy,
		// then announced.
		body, _ := json.Marshal(addVocals("never"))
		hr, _ := http.NewRequest(http.MethodPost, simURL+sunosim.SubmitPath, bytes.NewReader(body))
		hr.Header.Set("Authorization", "Bearer "+simKey)
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		var ans struct{ Data struct{ TaskID string } }
		_ = json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		reply, err := nc.Request("vocals_announce", []byte(ans.Data.TaskID), 10*time.Second)
		if err != nil || !strings.Contains(string(reply.Data), `"tracked":true`) {
			t.Fatalf("announce: %v %s", err, replyData(reply))
		}
		tasks = append(tasks, ans.Data.TaskID)
	}
	eventually(t, "every task complete", 30*time.Second, func() bool { return terminal(t, n.url, tasks...) })
	for _, task := range tasks {
		v, _ := sim.Task(task)
		if len(v.Polls) != 1 {
			t.Errorf("task %s polled %d times", task, len(v.Polls))
		}
	}
	var polls float64
	for _, p := range replicas {
		polls += metric(t, p, `vocals_bridge_tracking_polls_total{result="stage"}`)
	}
	if polls != 20 {
		t.Errorf("replicas polled %v times in all, want 20", polls)
	}
	count := map[string]int{}
	for _, e := range events(t, n.url, ">") {
		count[e.Subject]++
	}
	for _, task := range tasks {
		for _, subj := range []string{"vocals." + task + ".complete", "vocals_tasks." + task + ".submitted"} {
			if count[subj] != 1 {
				t.Errorf("%s stored %d times", subj, count[subj])
			}
		}
	}
	if len(count) != 2*len(tasks) {
		t.Errorf("%d subjects stored, want %d", len(count), 2*len(tasks))
	}
}

func replyData(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}

// The provider refuses polls (rate limit, then server errors): the bridge
// waits out Retry-After, backs off, and still stores the stage once.
func TestPollErrorsAndRateLimitsBackOff(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var polls []time.Time
	limited := false
	sim, simURL := startSim(t, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != sunosim.RecordInfoPath {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		polls = append(polls, time.Now())
		if !limited {
			limited = true
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"code":429,"msg":"slow down"}`))
			return true
		}
		return false
	})
	p := start(t, t.TempDir(), trackingEnv(t, simURL)...).waitReady(t)
	task := submitTask(t, p.submit, "never,pollerr=2")
	eventually(t, "the complete event", 40*time.Second, func() bool { return terminal(t, p.natsURL, task) })

	mu.Lock()
	defer mu.Unlock()
	if len(polls) != 4 {
		t.Fatalf("%d polls, want 4 (429, 500, 500, 200)", len(polls))
	}
	// Retry-After 2 s; then the interval doubled per failure: 2 s, 4 s.
	for i, min := range []time.Duration{2 * time.Second, 2 * time.Second, 4 * time.Second} {
		if gap := polls[i+1].Sub(polls[i]); gap < min {
			t.Errorf("poll %d came %s after the failed one, before %s", i+2, gap, min)
		}
	}
	v, _ := sim.Task(task)
	if v.PollErrors != 2 {
		t.Errorf("simulator answered %d errors", v.PollErrors)
	}
	if n := metric(t, p, `vocals_bridge_tracking_poll_errors_total{reason="rate_limited"}`); n != 1 {
		t.Errorf("%v rate-limited polls counted", n)
	}
	if n := metric(t, p, `vocals_bridge_tracking_poll_errors_total{reason="server_error"}`); n != 2 {
		t.Errorf("%v server errors counted", n)
	}
	if evs := events(t, p.natsURL, "vocals."+task+".>"); len(evs) != 1 || evs[0].Origin != "poll" {
		t.Errorf("events %+v", evs)
	}
}

// A task that never finishes gets a timeout event at its deadline, and
// its tracking ends; the provider's own failure, arriving after that, is
// published on the error subject with its code and message (it was
// answered a duplicate of the timeout and lost).
func TestStuckTaskTimesOut(t *testing.T) {
	t.Parallel()
	_, simURL := startSim(t, nil)
	p := start(t, t.TempDir(), trackingEnv(t, simURL, "VOCALS_BRIDGE_TRACKING_DEADLINE=3s",
		"VOCALS_BRIDGE_TRACKING_STUCK_AFTER=1s")...).waitReady(t)
	task := submitTask(t, p.submit, "stuck")
	eventually(t, "a stuck task counted", 10*time.Second, func() bool { return metric(t, p, "vocals_bridge_tracking_stuck_tasks") == 1 })
	eventually(t, "the timeout", 20*time.Second, func() bool { return terminal(t, p.natsURL, task) })
	evs := events(t, p.natsURL, "vocals."+task+".>")
	if len(evs) != 1 || evs[0].Subject != "vocals."+task+".timeout" || evs[0].Origin != "timeout" || evs[0].Data.Code != 408 ||
		evs[0].Data.Stage != "error" || !strings.HasPrefix(evs[0].Data.Msg, "timeout:") {
		t.Fatalf("events %+v", evs)
	}
	schematest.ValidateFamilyEvent(t, "timeout-event.schema.json", evs[0].raw)
	eventually(t, "tracking to end", 10*time.Second, func() bool { return metric(t, p, "vocals_bridge_tracking_tasks") == 0 })
	if n := metric(t, p, `vocals_bridge_tracking_ended_total{how="timeout"}`); n != 1 {
		t.Errorf("%v timeouts counted", n)
	}

	body := []byte(`{"code":531,"msg":"Generation failed; credits refunded","data":{"callbackType":"error","task_id":"` + task + `","data":null}}`)
	ts, sig := sign(simHMAC, task, time.Now().Unix())
	r := postWith(t, p.public+"/callbacks/vocals?token="+cbToken, body, map[string]string{"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig})
	if r.status != http.StatusOK || r.a.Duplicate {
		t.Fatalf("the provider's failure after the timeout: %d %+v", r.status, r.a)
	}
	evs = events(t, p.natsURL, "vocals."+task+".error")
	if len(evs) != 1 || evs[0].Origin != "callback" || evs[0].Data.Code != 531 || evs[0].Data.Msg != "Generation failed; credits refunded" {
		t.Fatalf("error events %+v", evs)
	}
	schematest.ValidateEvent(t, evs[0].raw)
}

// Announcements are request/reply; announcing twice tracks once; a bad id
// is refused with a reason.
func TestAnnounce(t *testing.T) {
	t.Parallel()
	_, simURL := startSim(t, nil)
	p := start(t, t.TempDir(), trackingEnv(t, simURL, "VOCALS_BRIDGE_TRACKING_POLL_AFTER=1m")...).waitReady(t)
	nc, err := nats.Connect(p.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const task = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name, payload, want string
	}{
		{"plain id", task, `{"tracked":true,"created":true}`},
		{"json, again", `{"task_id":"` + task + `"}`, `{"tracked":true,"created":false}`},
		{"not a subject token", "a.b", `"tracked":false`},
		{"empty", "", `"tracked":false`},
	}
	for _, tt := range tests {
		reply, err := nc.Request("vocals_announce", []byte(tt.payload), 10*time.Second)
		if err != nil || !strings.Contains(string(reply.Data), tt.want) {
			t.Errorf("%s: %v %s, want %s", tt.name, err, replyData(reply), tt.want)
		}
	}
	subs := events(t, p.natsURL, "vocals_tasks.>")
	if len(subs) != 1 || subs[0].Data.Via != "announce" || subs[0].Subject != "vocals_tasks."+task+".submitted" {
		t.Fatalf("submitted events %+v", subs)
	}
	eventually(t, "the task counted", 5*time.Second, func() bool { return metric(t, p, "vocals_bridge_tracking_tasks") == 1 })
}

// The submit proxy returns the provider's answers unchanged and never lets
// the API key (or the callback token) into logs, events or the bucket.
func TestSubmitProxyNeverLeaksTheKey(t *testing.T) {
	t.Parallel()
	sim, simURL := startSim(t, nil)
	p := start(t, t.TempDir(), trackingEnv(t, simURL)...).waitReady(t)

	missingTitle := addVocals("")
	delete(missingTitle, "title")
	tests := []struct {
		name     string
		auth     string
		req      map[string]any
		status   int
		code     float64
		tracked  string
		hasTask  bool
		upstream bool // the answer is the simulator's
	}{
		{"bridge's key", "", addVocals(""), 200, 200, "true", true, true},
		{"client's own key", "Bearer " + simKey, addVocals(""), 200, 200, "true", true, true},
		{"provider refuses the request", "", missingTitle, 200, 400, "", false, true},
		{"client's wrong key", "Bearer nope", addVocals(""), 401, 401, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, raw := submitVia(t, p.submit, tt.auth, tt.req)
			var ans map[string]any
			if err := json.Unmarshal(raw, &ans); err != nil {
				t.Fatalf("answer %s", raw)
			}
			if resp.StatusCode != tt.status || ans["code"] != tt.code || resp.Header.Get("Vocals-Tracked") != tt.tracked {
				t.Errorf("HTTP %d %s tracked %q", resp.StatusCode, raw, resp.Header.Get("Vocals-Tracked"))
			}
			if strings.Contains(string(raw), simKey) {
				t.Errorf("answer shows the key: %s", raw)
			}
		})
	}
	if resp, raw := submitVia(t, p.submit, "", nil); resp.StatusCode != 400 || !bytes.Contains(raw, []byte("JSON object")) {
		t.Errorf("null body: HTTP %d %s", resp.StatusCode, raw)
	}
	// Both tasks run to the end through signed callbacks.
	var tasks []string
	for _, v := range sim.Tasks() {
		tasks = append(tasks, v.ID)
	}
	if len(tasks) != 2 {
		t.Fatalf("simulator has %d tasks, want 2", len(tasks))
	}
	eventually(t, "both complete", 30*time.Second, func() bool { return terminal(t, p.natsURL, tasks...) })

	var stored bytes.Buffer
	for _, stream := range []string{"VOCALS", "KV_VOCALS_TASKS", "VOCALS_DLQ"} {
		for _, m := range streamMessagesIn(t, p.natsURL, stream, ">") {
			stored.Write(m.Data)
			for k, v := range m.Header {
				stored.WriteString(k + strings.Join(v, ""))
			}
		}
	}
	for what, text := range map[string]string{"stored messages": stored.String(), "the log": p.log()} {
		for _, secret := range []string{simKey, cbToken} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain a secret %q", what, secret[:8])
			}
		}
	}
	if stored.Len() == 0 || !strings.Contains(stored.String(), `"via":"proxy"`) {
		t.Error("nothing stored to check")
	}
}

// The submit proxy spends the API key: with submit_token set, a request
// without it (or with another) is 401 and never reaches the provider, and
// past submit_rate_limit a source gets 429 with Retry-After, token or not.
// Without a token the proxy must listen on loopback (config tests).
func TestSubmitProxyTokenAndLimit(t *testing.T) {
	t.Parallel()
	sim, simURL := startSim(t, nil)
	const token = "submit-token-7f3a9c2e"
	p := start(t, t.TempDir(), trackingEnv(t, simURL, "VOCALS_BRIDGE_SUBMIT_TOKEN="+token, "VOCALS_BRIDGE_SUBMIT_RATE_LIMIT=1")...).waitReady(t)
	send := func(tok string) *http.Response {
		h := http.Header{}
		if tok != "" {
			h.Set("Vocals-Submit-Token", tok)
		}
		resp, _ := submitWith(t, p.submit, h, addVocals(""))
		return resp
	}
	// Rate 1/s in bursts of 2: the first two requests have budget, so
	// their answer is the token's.
	began := time.Now()
	for _, tok := range []string{"", "wrong-token-0123456789"} {
		if resp := send(tok); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("token %q: HTTP %d, want 401", tok, resp.StatusCode)
		}
	}
	if n := len(sim.Tasks()); n != 0 {
		t.Fatalf("the provider saw %d submissions without the token, want none", n)
	}
	// Then at most what refilled since (plus one in flight) is admitted,
	// however slow the machine; the rest are 429 with Retry-After.
	admitted := 0
	for range 8 {
		resp := send(token)
		switch {
		case resp.StatusCode == http.StatusOK:
			admitted++
		case resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "":
			t.Fatalf("HTTP %d Retry-After %q, want 200 or 429 with one", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if bound := int(time.Since(began).Seconds()) + 1; admitted > bound {
		t.Errorf("%d of 8 submissions admitted in %s, more than %d at 1/s after a spent burst", admitted, time.Since(began), bound)
	}
	eventually(t, "a submission with the token", 20*time.Second, func() bool { return send(token).StatusCode == http.StatusOK })
	if n := len(sim.Tasks()); n != admitted+1 {
		t.Errorf("the provider saw %d submissions, want %d", n, admitted+1)
	}
	if strings.Contains(p.log(), token) {
		t.Error("the log shows the submit token")
	}
}
