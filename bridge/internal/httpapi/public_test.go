package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deadletter"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/httpapi"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/schematest"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/spool"
)

const (
	bodyLimit  = 64 << 10
	dlqMaxBody = 1 << 10
	// vocalsPath is add-vocals' route (family.Family.Path).
	vocalsPath = "/callbacks/vocals"
)

// bridge is a public listener over a real JetStream server.
type bridge struct {
	url     string
	js      jetstream.JetStream
	nats    *natstest.Server
	metrics *metrics.Metrics
	reg     *prometheus.Registry
	pub     *publish.JetStream
	dlq     *deadletter.Writer
}

func newBridge(t testing.TB, pub publish.Publisher) *bridge {
	return newBridgeSpool(t, pub, nil)
}

// newBridgeSpool is newBridge with a spool behind the publisher.
func newBridgeSpool(t testing.TB, pub publish.Publisher, sp *spool.Spool) *bridge {
	t.Helper()
	srv := natstest.Start(t)
	log := natstest.Logger(t)
	if _, isBench := t.(*testing.B); isBench {
		// Pay for Info logging as production does, without printing it.
		log = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
			zapcore.AddSync(io.Discard), zap.InfoLevel))
	}
	nc, err := publish.Connect([]string{srv.URL}, log, publish.ConnHooks{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	jsPub, err := publish.NewJetStream(nc, "VOCALS", event.Structured, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := publish.EnsureStream(ctx, jsPub.JS(), publish.StreamSpec{
		Name: "VOCALS", SubjectPrefix: "vocals", Replicas: 1, MaxAge: time.Hour, Duplicates: 30 * time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	if pub == nil {
		pub = jsPub
	}
	dlq := deadletter.New(jsPub.JS(), deadletter.StreamSpec{
		Name: "VOCALS_DLQ", SubjectPrefix: "vocals_dlq", Replicas: 1, MaxAge: time.Hour, MaxBytes: 64 << 20,
	}, dlqMaxBody, 16<<20, nil)
	if err := dlq.EnsureStream(ctx); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	h := httpapi.NewPublic(httpapi.PublicDeps{
		Log: log, Metrics: m, Families: family.All(),
		Builder:    cloudevent.NewBuilder("vocals", "/vocals-bridge", "http://localhost:8080/schemas", time.UTC),
		Sink:       deliver.New(pub, sp, nil, 2*time.Second, nil),
		BodyLimit:  bodyLimit,
		RetryAfter: 30 * time.Second,
		Schemas:    event.Schemas(),
		DeadLetter: dlq,
	})
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		dlq.Close(ctx)
	})
	_, js := srv.Connect(t)
	return &bridge{url: hs.URL, js: js, nats: srv, metrics: m, reg: reg, pub: jsPub, dlq: dlq}
}

type response struct {
	status int
	header http.Header
	answer httpapi.Answer
	err    httpapi.ErrorBody
}

func (b *bridge) post(t *testing.T, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.url+vocalsPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &r.answer); err != nil {
			t.Fatalf("200 answer is not JSON: %s", raw)
		}
	} else if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.err); err != nil || r.err.Status != "error" || r.err.Reason == "" {
			t.Fatalf("%d answer is not the JSON error body: %s", resp.StatusCode, raw)
		}
	}
	return r
}

func (b *bridge) postJSON(t *testing.T, v any) response {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b.post(t, "application/json", raw)
}

func (b *bridge) stored(t *testing.T, filter string) []*jetstream.RawStreamMsg {
	t.Helper()
	return natstest.Messages(t, b.js, "VOCALS", filter)
}

func callbackBody(code int, cbType, task string) map[string]any {
	return map[string]any{"code": code, "msg": "m", "data": map[string]any{
		"callbackType": cbType, "task_id": task, "data": nil,
	}}
}

func TestFixturesArePublishedAsValidEvents(t *testing.T) {
	b := newBridge(t, nil)
	files, _ := filepath.Glob("../callback/testdata/*.json")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r := b.post(t, "application/json", raw)
			if r.status != http.StatusOK || r.answer.Status != "received" || r.answer.Duplicate {
				t.Fatalf("got %d %+v %+v", r.status, r.answer, r.err)
			}
			msgs := b.stored(t, r.answer.Subject)
			if len(msgs) != 1 {
				t.Fatalf("%d messages on %s, want 1", len(msgs), r.answer.Subject)
			}
			schematest.ValidateEvent(t, msgs[0].Data)
			var ev struct {
				ID   string
				Data event.DataV1
			}
			_ = json.Unmarshal(msgs[0].Data, &ev)
			if ev.ID != r.answer.EventID || msgs[0].Header.Get(jetstream.MsgIDHeader) != ev.ID {
				t.Errorf("answer id %s, event id %s, Nats-Msg-Id %s", r.answer.EventID, ev.ID, msgs[0].Header.Get(jetstream.MsgIDHeader))
			}
			if want := "vocals." + ev.Data.TaskID + "." + ev.Data.Stage; r.answer.Subject != want {
				t.Errorf("subject %s, want %s", r.answer.Subject, want)
			}
		})
	}
}

func TestOneMessagePerStageAndRetriesDeduplicated(t *testing.T) {
	b := newBridge(t, nil)
	task := "0123456789abcdef0123456789abcdef"
	stages := []string{"text", "first", "complete"}
	for round := 0; round < 3; round++ { // the provider's first try and two retries
		for _, st := range stages {
			r := b.postJSON(t, callbackBody(200, st, task))
			if r.status != http.StatusOK {
				t.Fatalf("round %d %s: %d %+v", round, st, r.status, r.err)
			}
			if r.answer.Duplicate != (round > 0) {
				t.Errorf("round %d %s: duplicate=%v", round, st, r.answer.Duplicate)
			}
		}
	}
	msgs := b.stored(t, "vocals."+task+".>")
	if len(msgs) != len(stages) {
		t.Fatalf("stored %d messages, want %d", len(msgs), len(stages))
	}
	for i, st := range stages {
		if msgs[i].Subject != "vocals."+task+"."+st {
			t.Errorf("message %d on %s", i, msgs[i].Subject)
		}
	}
	if got := testutil.ToFloat64(b.metrics.CallbacksReceived.WithLabelValues("vocals", "complete", metrics.OutcomeDuplicate)); got != 2 {
		t.Errorf("duplicate counter %v, want 2", got)
	}
	if got := testutil.ToFloat64(b.metrics.CallbacksReceived.WithLabelValues("vocals", "complete", metrics.OutcomePublished)); got != 1 {
		t.Errorf("published counter %v, want 1", got)
	}
}

func TestFailureCodesGoToTheErrorSubject(t *testing.T) {
	b := newBridge(t, nil)
	for _, code := range []int{400, 408, 413, 500, 501, 531} {
		for _, cbType := range []string{"error", "complete", "text"} {
			task := fmt.Sprintf("fail-%d-%s", code, cbType)
			r := b.postJSON(t, callbackBody(code, cbType, task))
			if r.status != http.StatusOK || r.answer.Stage != "error" {
				t.Fatalf("%s: %d %+v", task, r.status, r.answer)
			}
			msgs := b.stored(t, "vocals."+task+".>")
			if len(msgs) != 1 || msgs[0].Subject != "vocals."+task+".error" {
				t.Fatalf("%s: stored %d messages", task, len(msgs))
			}
			var ev struct{ Type string }
			_ = json.Unmarshal(msgs[0].Data, &ev)
			if ev.Type != "com.sunoapi.vocals.error.v1" {
				t.Errorf("%s: type %s", task, ev.Type)
			}
		}
	}
	if n := len(b.stored(t, "vocals.*.error")); n != 18 {
		t.Errorf("vocals.*.error holds %d messages, want 18", n)
	}
}

// Nothing about a rejected request may reach the stream.
func TestBadInputIsRejectedAndNothingStored(t *testing.T) {
	b := newBridge(t, nil)
	valid, _ := json.Marshal(callbackBody(200, "complete", "okTask"))
	tests := map[string]struct {
		contentType string
		body        []byte
		status      int
		reason      string
	}{
		"task id with dot":       {"application/json", mustJSON(callbackBody(200, "complete", "a.b")), 400, "invalid_task_id"},
		"task id wildcard":       {"application/json", mustJSON(callbackBody(200, "complete", "*")), 400, "invalid_task_id"},
		"task id tail wildcard":  {"application/json", mustJSON(callbackBody(200, "complete", ">")), 400, "invalid_task_id"},
		"task id with space":     {"application/json", mustJSON(callbackBody(200, "complete", "a b")), 400, "invalid_task_id"},
		"task id with CRLF":      {"application/json", mustJSON(callbackBody(200, "complete", "a\r\nPUB vocals.x.complete 2")), 400, "invalid_task_id"},
		"task id empty":          {"application/json", mustJSON(callbackBody(200, "complete", "")), 400, "invalid_task_id"},
		"callbackType injection": {"application/json", mustJSON(callbackBody(200, "complete.>", "t1")), 400, "unknown_callback_type"},
		"unknown callbackType":   {"application/json", mustJSON(callbackBody(200, "done", "t1")), 400, "unknown_callback_type"},
		"malformed json":         {"application/json", []byte(`{"code":200,`), 400, "malformed_json"},
		"wrong types":            {"application/json", []byte(`{"code":"200","data":{"task_id":"t1","callbackType":"text"}}`), 400, "invalid_field"},
		"missing data":           {"application/json", []byte(`{"code":200}`), 400, "missing_field"},
		"missing task id":        {"application/json", []byte(`{"code":200,"data":{"callbackType":"text"}}`), 400, "missing_field"},
		"invalid utf-8":          {"application/json", []byte("{\"code\":200,\"msg\":\"\xc3\x28\",\"data\":{\"task_id\":\"t1\",\"callbackType\":\"text\"}}"), 400, "invalid_encoding"},
		"text/plain":             {"text/plain", valid, 415, "unsupported_media_type"},
		"form":                   {"application/x-www-form-urlencoded", valid, 415, "unsupported_media_type"},
		"no content type":        {"", valid, 415, "unsupported_media_type"},
		"json lookalike":         {"application/jsonp", valid, 415, "unsupported_media_type"},
		"over the limit":         {"application/json", bigBody(bodyLimit + 1), 413, "body_too_large"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := b.post(t, tc.contentType, tc.body)
			if r.status != tc.status || r.err.Reason != tc.reason {
				t.Fatalf("got %d %+v, want %d %s", r.status, r.err, tc.status, tc.reason)
			}
			if r.err.Error == "" {
				t.Error("error body has no message")
			}
		})
	}
	if n := len(b.stored(t, ">")); n != 0 {
		t.Fatalf("rejected requests stored %d messages", n)
	}
	waitDeadLetters(t, b.dlq)
	dead := natstest.Messages(t, b.js, "VOCALS_DLQ", ">")
	if len(dead) != len(tests) {
		t.Fatalf("dead-letter stream holds %d messages, want one per rejected request (%d)", len(dead), len(tests))
	}
	for _, m := range dead {
		reason := m.Header.Get(deadletter.HeaderReason)
		if !strings.HasPrefix(m.Subject, "vocals_dlq."+reason+".vocals.") || m.Header.Get(deadletter.HeaderError) == "" || m.Header.Get(deadletter.HeaderRequestID) == "" {
			t.Errorf("dead letter %s headers %v", m.Subject, m.Header)
		}
		if len(m.Data) > dlqMaxBody {
			t.Errorf("dead letter body %d bytes over the %d cap", len(m.Data), dlqMaxBody)
		}
		if reason == "body_too_large" && m.Header.Get(deadletter.HeaderTruncated) != "true" {
			t.Errorf("oversized body not marked truncated: %v", m.Header)
		}
		if reason == "invalid_task_id" && !strings.Contains(string(m.Data), `"task_id"`) {
			t.Errorf("raw body not kept: %s", m.Data)
		}
	}
	// The provider retries a refused callback; the dead-letter stream keeps it once.
	b.post(t, "application/json", tests["malformed json"].body)
	waitDeadLetters(t, b.dlq)
	if n := len(natstest.Messages(t, b.js, "VOCALS_DLQ", "vocals_dlq.malformed_json.>")); n != 1 {
		t.Errorf("retried refusal stored %d times", n)
	}
	if got := testutil.ToFloat64(b.metrics.CallbacksRejected.WithLabelValues("vocals", "invalid_task_id")); got != 6 {
		t.Errorf("invalid_task_id rejections counted %v, want 6", got)
	}
	// The same bridge still accepts good input afterwards.
	if r := b.post(t, "application/json; charset=utf-8", valid); r.status != http.StatusOK {
		t.Fatalf("valid callback after rejections: %d %+v", r.status, r.err)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// bigBody is a valid callback padded to n bytes, so only its size is wrong.
func bigBody(n int) []byte {
	head := `{"code":200,"data":{"task_id":"big","callbackType":"text"},"pad":"`
	return []byte(head + strings.Repeat("a", n-len(head)-2) + `"}`)
}

func TestBodyAtTheLimitIsAccepted(t *testing.T) {
	b := newBridge(t, nil)
	if r := b.post(t, "application/json", bigBody(bodyLimit)); r.status != http.StatusOK {
		t.Fatalf("body of exactly the limit: %d %+v", r.status, r.err)
	}
}

// A chunked body has no Content-Length; the limit must still hold.
func TestChunkedBodyOverTheLimit(t *testing.T) {
	b := newBridge(t, nil)
	req, _ := http.NewRequest(http.MethodPost, b.url+vocalsPath, io.MultiReader(bytes.NewReader(bigBody(bodyLimit+10))))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1
	if r := do(t, req); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %d, want 413", r.status)
	}
	if n := len(b.stored(t, ">")); n != 0 {
		t.Fatalf("stored %d messages", n)
	}
}

func TestBrokerDownAnswers503WithRetryAfter(t *testing.T) {
	b := newBridge(t, nil)
	b.nats.Shutdown()
	start := time.Now()
	r := b.postJSON(t, callbackBody(200, "complete", "down1"))
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "30" || r.err.Reason != "publish_failed" {
		t.Fatalf("got %d Retry-After=%q %+v", r.status, r.header.Get("Retry-After"), r.err)
	}
	if d := time.Since(start); d >= 15*time.Second {
		t.Errorf("answer took %s, past the provider's timeout", d)
	}
	if got := testutil.ToFloat64(b.metrics.CallbacksReceived.WithLabelValues("vocals", "complete", metrics.OutcomeFailed)); got != 1 {
		t.Errorf("failed counter %v", got)
	}
}

type panickingPublisher struct{}

func (panickingPublisher) Publish(context.Context, outbound.Message) (publish.Result, error) {
	panic("boom")
}

func TestHandlerPanicIsAnswered500(t *testing.T) {
	b := newBridge(t, panickingPublisher{})
	for i := 0; i < 2; i++ { // the server survives and answers again
		r := b.postJSON(t, callbackBody(200, "complete", "panic1"))
		if r.status != http.StatusInternalServerError {
			t.Fatalf("got %d, want 500", r.status)
		}
	}
}

func TestPublicSurfaceIsOnlyCallbacksAndSchemas(t *testing.T) {
	b := newBridge(t, nil)
	tests := map[string]struct {
		method, path string
		status       int
	}{
		"GET callback":      {http.MethodGet, "/callbacks/vocals", 405},
		"PUT callback":      {http.MethodPut, "/callbacks/vocals", 405},
		"metrics":           {http.MethodGet, "/metrics", 404},
		"healthz":           {http.MethodGet, "/healthz", 404},
		"readyz":            {http.MethodGet, "/readyz", 404},
		"root":              {http.MethodGet, "/", 404},
		"data schema":       {http.MethodGet, "/schemas/v1/data.schema.json", 200},
		"event schema":      {http.MethodGet, "/schemas/v1/event.schema.json", 200},
		"missing schema":    {http.MethodGet, "/schemas/v1/nope.json", 404},
		"schema traversal":  {http.MethodGet, "/schemas/../go.mod", 404},
		"POST schema":       {http.MethodPost, "/schemas/v1/data.schema.json", 405},
		"trailing slash cb": {http.MethodPost, "/callbacks/vocals/", 404},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, b.url+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status == 200 {
				if ct := resp.Header.Get("Content-Type"); ct != "application/schema+json" {
					t.Errorf("Content-Type %q", ct)
				}
				want, _ := os.ReadFile("../../../schemas" + strings.TrimPrefix(tc.path, "/schemas"))
				if !bytes.Equal(body, want) {
					t.Errorf("served schema differs from schemas/")
				}
			}
		})
	}
}

func TestRequestIDIsEchoedOrGenerated(t *testing.T) {
	b := newBridge(t, nil)
	req, _ := http.NewRequest(http.MethodPost, b.url+vocalsPath, bytes.NewReader(mustJSON(callbackBody(200, "text", "rid"))))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "abc-123")
	if r := do(t, req); r.header.Get("X-Request-Id") != "abc-123" {
		t.Errorf("request id not echoed: %q", r.header.Get("X-Request-Id"))
	}
	req, _ = http.NewRequest(http.MethodPost, b.url+vocalsPath, bytes.NewReader(mustJSON(callbackBody(200, "text", "rid"))))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "bad id\twith spaces")
	if got := do(t, req).header.Get("X-Request-Id"); got == "" || strings.ContainsAny(got, " \t") {
		t.Errorf("unsafe request id not replaced: %q", got)
	}
}

// Under concurrent load, with bodies of different sizes, every stored event
// must be exactly the one its request asked for: nothing shared between
// requests (a buffer, the builder, the replay cache) may mix them up.
func TestConcurrentCallbacksKeepTheirOwnBytes(t *testing.T) {
	b := newBridge(t, nil)
	const workers, perWorker = 8, 40
	want := make(map[string][32]byte) // task id -> sha256 of the body sent
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				task := fmt.Sprintf("w%02dn%03d", w, i)
				cb := callbackBody(200, "complete", task)
				// Different sizes, so a buffer handed to the wrong request
				// would show as a torn or mixed body.
				cb["data"].(map[string]any)["data"] = []map[string]any{{"title": strings.Repeat("t", (w*perWorker+i)%700), "id": task}}
				raw, err := json.Marshal(cb)
				if err != nil {
					t.Error(err)
					return
				}
				req, _ := http.NewRequest(http.MethodPost, b.url+vocalsPath, bytes.NewReader(raw))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s: %d", task, resp.StatusCode)
					return
				}
				mu.Lock()
				want[task] = sha256.Sum256(raw)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	msgs := b.stored(t, "vocals.>")
	if len(msgs) != workers*perWorker {
		t.Fatalf("stored %d events, want %d", len(msgs), workers*perWorker)
	}
	for _, m := range msgs {
		var ev struct {
			Subject string       `json:"subject"`
			Hash    string       `json:"bodysha256"`
			Data    event.DataV1 `json:"data"`
		}
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatalf("%s: not JSON: %v", m.Subject, err)
		}
		sum := want[ev.Subject]
		if m.Subject != "vocals."+ev.Subject+".complete" || ev.Data.TaskID != ev.Subject ||
			len(ev.Data.Tracks) != 1 || ev.Data.Tracks[0].ID != ev.Subject || ev.Hash != hex.EncodeToString(sum[:]) {
			t.Fatalf("event on %s is not its request's: subject %s, data %+v, hash %s", m.Subject, ev.Subject, ev.Data, ev.Hash)
		}
	}
}

// waitDeadLetters waits until every recorded dead letter reached the stream.
func waitDeadLetters(t *testing.T, w *deadletter.Writer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n, _ := w.Queued(); n > 0; n, _ = w.Queued() {
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters still queued after 10s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An answer is one line of compact JSON, as the README shows it.
func TestAnswerIsOneCompactLine(t *testing.T) {
	b := newBridge(t, nil)
	resp, err := http.Post(b.url+vocalsPath, "application/json", bytes.NewReader(mustJSON(callbackBody(200, "complete", "compact"))))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if n := bytes.Count(raw, []byte("\n")); n != 1 || !bytes.HasSuffix(raw, []byte("}\n")) || bytes.Contains(raw, []byte(": ")) {
		t.Errorf("answer %q: want one compact line", raw)
	}
}
