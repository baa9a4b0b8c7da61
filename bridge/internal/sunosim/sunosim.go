// Package sunosim simulates the provider's side of the Suno API (as its
// public documentation describes it) for demos and
// end-to-end tests: task submission for every family, callbacks on a
// scaled timeline with the documented retry schedule, timeout and optional
// HMAC signature, in either main provider's spelling, details polling with
// a per-task rate limit, and faults chosen per task.
//
// It is written from the contract alone and shares no code with the bridge,
// so a misunderstanding in one shows up as a failure in the other.
package sunosim

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Paths of the simulated API.
const (
	SubmitPath     = "/api/v1/generate/add-vocals"
	RecordInfoPath = "/api/v1/generate/record-info"
	// TasksPath + "/<task id>" shows what the simulator did for a task.
	TasksPath = "/sim/tasks"
	// FaultField is the simulator-only request field choosing a task's
	// faults (see ParseFault). The real provider ignores unknown fields.
	FaultField = "simFault"
)

// RetrySchedule is the provider's wait before each retry of a failed
// callback: 1, 5 and 15 minutes.
var RetrySchedule = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}

// Options configure a Sim. Zero values take the defaults noted.
type Options struct {
	// APIKey is the Bearer token every API request must carry.
	APIKey string
	// HMACKey signs callbacks (X-Webhook-Timestamp, X-Webhook-Signature)
	// when set.
	HMACKey string
	// Scale multiplies every provider delay (stage gaps, retry schedule):
	// 1 is real time, 0.01 runs the 21-minute retry span in 12.6 s.
	// Default 1.
	Scale float64
	// StageGap is the unscaled time from submission to text, text to
	// first and first to complete. Default 20s.
	StageGap time.Duration
	// CallbackTimeout is how long a callback may take to be answered.
	// Default 15s, not scaled.
	CallbackTimeout time.Duration
	// Fault applies to tasks whose request names none.
	Fault Fault
	// PollLimit is record-info requests allowed per second per task; more
	// are answered 429. Default 3.
	PollLimit int
	// Client sends callbacks. Default: a client with CallbackTimeout.
	Client *http.Client
	// Logf, if set, reports each callback attempt.
	Logf func(format string, args ...any)
	// Spelling is whose pages the callbacks and details answers follow
	// where the providers disagree: SpellingS or SpellingK (default).
	Spelling string
	// MediaBase is the URL the callbacks' media URLs start with: the
	// simulator's own MediaPath (http://<addr>/media) to serve them,
	// DefaultMediaBase (a host that does not resolve) when empty.
	MediaBase string
}

// Sim is the simulated provider. It is an http.Handler.
type Sim struct {
	o      Options
	mux    *http.ServeMux
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	tasks     map[string]*task
	order     []string
	mediaHits map[string]int
}

// New returns a Sim; Close stops its timelines and pending callbacks.
func New(o Options) *Sim {
	if o.Scale <= 0 {
		o.Scale = 1
	}
	if o.StageGap <= 0 {
		o.StageGap = 20 * time.Second
	}
	if o.CallbackTimeout <= 0 {
		o.CallbackTimeout = 15 * time.Second
	}
	if o.PollLimit <= 0 {
		o.PollLimit = 3
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.CallbackTimeout}
	}
	if o.Spelling != SpellingS {
		o.Spelling = SpellingK
	}
	if o.MediaBase == "" {
		o.MediaBase = DefaultMediaBase
	}
	s := &Sim{o: o, tasks: map[string]*task{}, mediaHits: map[string]int{}, mux: http.NewServeMux()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	details := map[string]bool{}
	for _, f := range Families {
		s.mux.HandleFunc("POST "+f.Submit, func(w http.ResponseWriter, r *http.Request) { s.submit(w, r, f) })
		if !details[f.Details] {
			details[f.Details] = true
			s.mux.HandleFunc("GET "+f.Details, s.recordInfo)
		}
	}
	s.mux.HandleFunc("GET "+TasksPath+"/{id}", s.showTask)
	s.mux.HandleFunc("GET "+TasksPath, s.listTasks)
	s.mux.HandleFunc("GET "+MediaPath, s.media)
	return s
}

func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops every timeline and waits for callbacks in progress.
func (s *Sim) Close() {
	s.cancel()
	s.wg.Wait()
}

func (s *Sim) scaled(d time.Duration) time.Duration { return time.Duration(float64(d) * s.o.Scale) }

// authorized checks the Bearer token in constant time.
func (s *Sim) authorized(r *http.Request) bool {
	got := []byte(r.Header.Get("Authorization"))
	want := []byte("Bearer " + s.o.APIKey)
	return subtle.ConstantTimeCompare(got, want) == 1
}

// answer writes the provider's envelope {"code","msg","data"}.
func answer(w http.ResponseWriter, status, code int, msg string, data any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "msg": msg, "data": data})
}

func (s *Sim) submit(w http.ResponseWriter, r *http.Request, fam Family) {
	if !s.authorized(r) {
		answer(w, http.StatusUnauthorized, 401, "invalid API key", nil)
		return
	}
	var req map[string]any
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		answer(w, http.StatusOK, 400, "body is not a JSON object", nil)
		return
	}
	required := []string{fam.CallbackField()} // the other families' fields are not simulated
	if fam.Name == "vocals" {
		required = []string{"uploadUrl", "prompt", "title", "style", "negativeTags", "callBackUrl"}
	}
	for _, k := range required {
		if v, ok := req[k].(string); !ok || v == "" {
			answer(w, http.StatusOK, 400, k+" is required", nil)
			return
		}
	}
	title, _ := req["title"].(string)
	prompt, _ := req["prompt"].(string)
	if len([]rune(title)) > 80 {
		answer(w, http.StatusOK, 400, "title is longer than 80 characters", nil)
		return
	}
	fault := s.o.Fault
	if spec, ok := req[FaultField].(string); ok {
		f, err := ParseFault(spec)
		if err != nil {
			answer(w, http.StatusOK, 400, err.Error(), nil)
			return
		}
		fault = f
	}
	param, _ := json.Marshal(req)
	t := &task{
		ID: newTaskID(), fam: fam, param: string(param), callbackURL: req[fam.CallbackField()].(string),
		title: title, prompt: prompt, fault: fault, media: strings.TrimSuffix(s.o.MediaBase, "/") + "/",
		status: "PENDING", Submitted: time.Now(),
	}
	s.mu.Lock()
	s.tasks[t.ID] = t
	s.order = append(s.order, t.ID)
	s.mu.Unlock()
	s.spawn(t, func() { s.run(t) })
	answer(w, http.StatusOK, 200, "success", map[string]string{"taskId": t.ID})
}

func newTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sleep waits d or until the Sim closes; false means closed.
func (s *Sim) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// spawn runs f for task t in a goroutine of its own, counted in t.active
// until it returns: run counts while it may still start a delivery, so a
// task with none active will send nothing more.
func (s *Sim) spawn(t *task, f func()) {
	s.mu.Lock()
	t.active++
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			t.active--
			s.mu.Unlock()
		}()
		f()
	}()
}

// run moves a task through its stages, starting a delivery at each.
func (s *Sim) run(t *task) {
	if t.fault.Stuck {
		return
	}
	gap := s.scaled(s.o.StageGap)
	steps := []string{"text", "first", "complete"}
	switch {
	case !t.fam.staged() && t.fault.Fail != 0:
		steps = []string{"error"}
	case !t.fam.staged() || t.fault.Skip:
		steps = []string{"complete"}
	case t.fault.Fail != 0:
		steps = []string{"text", "error"}
	}
	for _, stage := range steps {
		if !s.sleep(gap) {
			return
		}
		s.mu.Lock()
		t.reach(stage)
		body := t.callbackBody(stage, s.o.Spelling)
		s.mu.Unlock()
		if t.fault.Never || t.fault.Drop[stage] {
			continue
		}
		copies := 1
		if t.fault.Duplicate {
			copies = 2
		}
		for range copies {
			s.spawn(t, func() { s.deliver(t, stage, body) })
		}
	}
}

// deliver posts one callback, retrying on the provider's schedule until it
// is answered 200.
func (s *Sim) deliver(t *task, stage string, body []byte) {
	if t.fault.Late > 0 && !s.sleep(t.fault.Late) {
		return
	}
	for attempt := 0; attempt <= len(RetrySchedule); attempt++ {
		if attempt > 0 && !s.sleep(s.scaled(RetrySchedule[attempt-1])) {
			return
		}
		status, err := s.post(t.callbackURL, t.ID, body)
		d := Delivery{Stage: stage, Attempt: attempt + 1, At: time.Now(), Status: status}
		if err != nil {
			d.Err = err.Error()
		}
		s.mu.Lock()
		t.Deliveries = append(t.Deliveries, d)
		s.mu.Unlock()
		if s.o.Logf != nil {
			s.o.Logf("task %s: %s callback attempt %d: status %d %s", t.ID, stage, attempt+1, status, d.Err)
		}
		if err == nil && status == http.StatusOK {
			return
		}
	}
	s.mu.Lock()
	t.Abandoned = append(t.Abandoned, stage)
	s.mu.Unlock()
}

func (s *Sim) post(url, taskID string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.o.CallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytesReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if s.o.HMACKey != "" {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("X-Webhook-Timestamp", ts)
		req.Header.Set("X-Webhook-Signature", Sign(s.o.HMACKey, taskID, ts))
	}
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = drain(resp.Body)
	return resp.StatusCode, nil
}

// Sign is the provider's callback signature:
// base64(HMAC-SHA256(key, taskId + "." + timestamp)).
func Sign(key, taskID, timestamp string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(taskID + "." + timestamp))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (s *Sim) recordInfo(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		answer(w, http.StatusUnauthorized, 401, "invalid API key", nil)
		return
	}
	id := r.URL.Query().Get("taskId")
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[id]
	if !ok {
		answer(w, http.StatusOK, 404, "task not found", nil)
		return
	}
	now := time.Now()
	t.Polls = append(t.Polls, now)
	recent := 0
	for _, p := range t.Polls {
		if now.Sub(p) < time.Second {
			recent++
		}
	}
	if recent > s.o.PollLimit {
		t.RateLimited++
		w.Header().Set("Retry-After", "1")
		answer(w, http.StatusTooManyRequests, 429, "call frequency too high, try again later", nil)
		return
	}
	if t.fault.PollErr > 0 {
		t.fault.PollErr--
		t.PollErrors++
		answer(w, http.StatusInternalServerError, 500, "simulated server error", nil)
		return
	}
	if t.fam.Details != r.URL.Path {
		answer(w, http.StatusOK, 404, "task not found", nil) // another family's endpoint
		return
	}
	if t.fam.Kind == "music" || t.fam.Kind == "music-one-shot" {
		answer(w, http.StatusOK, 200, "success", t.recordInfo())
		return
	}
	answer(w, http.StatusOK, 200, "success", t.oneShotDetails(s.o.Spelling))
}

// TaskView is what the simulator did for one task.
type TaskView struct {
	ID         string
	Status     string
	Submitted  time.Time
	Deliveries []Delivery
	Abandoned  []string // stages given up after the last retry; none is tried again
	// Settled: the simulator will send no more callbacks for the task (it
	// is done moving it through its stages, and no callback is being
	// sent or waiting for a retry).
	Settled     bool
	Polls       []time.Time // every record-info request, answered or not
	PollErrors  int         // answered 500 by the pollerr fault
	RateLimited int         // answered 429
}

// Delivery is one callback attempt.
type Delivery struct {
	Stage   string
	Attempt int
	At      time.Time
	Status  int    // HTTP status, 0 when the request failed
	Err     string // why it failed, if it did
}

// Task returns a copy of what the simulator did for task id.
func (s *Sim) Task(id string) (TaskView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[id]
	if !ok {
		return TaskView{}, false
	}
	return t.view(), true
}

// Tasks returns every task in submission order.
func (s *Sim) Tasks() []TaskView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TaskView, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.tasks[id].view())
	}
	return out
}

func (s *Sim) showTask(w http.ResponseWriter, r *http.Request) {
	v, ok := s.Task(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Sim) listTasks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.Tasks())
}
