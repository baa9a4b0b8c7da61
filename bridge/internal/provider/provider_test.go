package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/provider"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/sunosim"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
)

// fixed serves one canned answer, recording the request.
func fixed(t *testing.T, status int, header map[string]string, body string) (*provider.Client, *http.Request) {
	t.Helper()
	var got http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = *r
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := provider.New(srv.URL, "secret-key", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c, &got
}

const id = "5c79a1b2c3d4e5f60718293a4b5cbe8e"

// vocals is add-vocals' family: its record-info answers are the music
// families'.
var vocals, _ = family.Get(event.FamilyVocals)

func TestRecordInfoStatuses(t *testing.T) {
	tests := []struct {
		name      string
		data      string
		stage     event.Stage // "" for none
		code      int
		msg       string
		tracks    int
		firstURL  string
		createdAt string
	}{
		{"pending", `{"taskId":"` + id + `","status":"PENDING","response":null}`, "", 0, "", 0, "", ""},
		{"text", `{"taskId":"` + id + `","status":"TEXT_SUCCESS","response":{"sunoData":[{"id":"a","title":"T","audioUrl":""}]}}`,
			event.StageText, 200, "record-info status TEXT_SUCCESS", 1, "", ""},
		{"first", `{"taskId":"` + id + `","status":"FIRST_SUCCESS","response":{"sunoData":[{"id":"a","audioUrl":"https://x/1.mp3","duration":1.5}]}}`,
			event.StageFirst, 200, "record-info status FIRST_SUCCESS", 1, "https://x/1.mp3", ""},
		{"success, createTime in ms", `{"taskId":"` + id + `","status":"SUCCESS","response":{"sunoData":[{"id":"a","audioUrl":"https://x/1.mp3","createTime":1735689600000},{"id":"b"}]}}`,
			event.StageComplete, 200, "record-info status SUCCESS", 2, "https://x/1.mp3", "2025-01-01T00:00:00Z"},
		{"generation failed", `{"taskId":"` + id + `","status":"GENERATE_AUDIO_FAILED","errorCode":531,"errorMessage":"refunded","response":{"sunoData":[{"id":"a"}]}}`,
			event.StageError, 531, "refunded", 0, "", ""},
		{"sensitive word, code as string", `{"taskId":"` + id + `","status":"SENSITIVE_WORD_ERROR","errorCode":"400"}`,
			event.StageError, 400, "record-info status SENSITIVE_WORD_ERROR", 0, "", ""},
		{"create failed without code", `{"taskId":"` + id + `","status":"CREATE_TASK_FAILED","errorCode":null}`,
			event.StageError, 500, "record-info status CREATE_TASK_FAILED", 0, "", ""},
		{"callback exception with audio", `{"taskId":"` + id + `","status":"CALLBACK_EXCEPTION","response":{"sunoData":[{"id":"a","audioUrl":"https://x/1.mp3"}]}}`,
			event.StageComplete, 200, "record-info status CALLBACK_EXCEPTION", 1, "https://x/1.mp3", ""},
		{"callback exception without audio", `{"taskId":"` + id + `","status":"CALLBACK_EXCEPTION","errorCode":500,"errorMessage":"boom"}`,
			event.StageError, 500, "boom", 0, "", ""},
		{"unknown status", `{"taskId":"` + id + `","status":"QUEUED"}`, "", 0, "", 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, req := fixed(t, 200, nil, `{"code":200,"msg":"success","data":`+tt.data+`}`)
			p, err := c.Details(context.Background(), vocals, id)
			if err != nil {
				t.Fatal(err)
			}
			if req.URL.Query().Get("taskId") != id || req.Header.Get("Authorization") != "Bearer secret-key" {
				t.Errorf("request %s %v", req.URL, req.Header)
			}
			cb, ok := p.Callback, p.Stage
			if ok != (tt.stage != "") || cb.Stage != tt.stage {
				t.Fatalf("stage %q %v, want %q", cb.Stage, ok, tt.stage)
			}
			if !ok {
				return
			}
			if cb.TaskID != id || cb.Code != tt.code || cb.Msg != tt.msg || len(cb.Tracks) != tt.tracks || cb.CallbackType != string(tt.stage) {
				t.Errorf("callback %+v", cb)
			}
			if tt.tracks > 0 && (cb.Tracks[0].AudioURL != tt.firstURL || cb.Tracks[0].CreateTime != tt.createdAt) {
				t.Errorf("track %+v", cb.Tracks[0])
			}
			if string(cb.Extra["record_status"]) == "" {
				t.Errorf("record_status missing from extra")
			}
		})
	}
}

func TestRecordInfoErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		header      map[string]string
		body        string
		reason      string
		retryAfter  time.Duration
		rateLimited bool
	}{
		{"429 with Retry-After", 429, map[string]string{"Retry-After": "7"}, `{"code":429,"msg":"slow down"}`, "rate_limited", 7 * time.Second, true},
		{"429 asking for a year", 429, map[string]string{"Retry-After": "31536000"}, `{"code":429}`, "rate_limited", provider.MaxRetryAfter, true},
		{"429 asking for ever", 429, map[string]string{"Retry-After": "99999999999999999"}, `{"code":429}`, "rate_limited", provider.MaxRetryAfter, true},
		// Hostile answers are refused before anything is built from them.
		{"a million empty tracks", 200, nil, `{"code":200,"data":{"taskId":"` + id + `","status":"SUCCESS","response":{"sunoData":[` +
			strings.Repeat(`{},`, 1_390_000) + `{}]}}}`, "refused", 0, false},
		{"300,000 empty tracks in 900 KB", 200, nil, `{"code":200,"data":{"taskId":"` + id + `","status":"SUCCESS","response":{"sunoData":[` +
			strings.Repeat(`{},`, 300_000) + `{}]}}}`, "refused", 0, false},
		{"101 tracks", 200, nil, `{"code":200,"data":{"taskId":"` + id + `","status":"SUCCESS","response":{"sunoData":[` +
			strings.Repeat(`{"id":"x"},`, 100) + `{"id":"x"}]}}}`, "refused", 0, false},
		{"deep nesting", 200, nil, `{"code":200,"data":{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}`, "refused", 0, false},
		{"code 430 in a 200", 200, nil, `{"code":430,"msg":"call frequency too high"}`, "rate_limited", 0, true},
		{"unauthorized", 401, nil, `{"code":401,"msg":"bad key"}`, "unauthorized", 0, false},
		{"not found", 200, nil, `{"code":404,"msg":"no task"}`, "not_found", 0, false},
		{"server error", 502, nil, `<html>bad gateway</html>`, "server_error", 0, false},
		{"not JSON in a 200", 200, nil, `hello`, "refused", 0, false},
		{"no data", 200, nil, `{"code":200,"msg":"ok","data":null}`, "refused", 0, false},
		{"another task", 200, nil, `{"code":200,"data":{"taskId":"other","status":"SUCCESS"}}`, "refused", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := fixed(t, tt.status, tt.header, tt.body)
			_, err := c.Details(context.Background(), vocals, id)
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *provider.Error", err)
			}
			if pe.Reason() != tt.reason || pe.RetryAfter != tt.retryAfter || pe.RateLimited() != tt.rateLimited {
				t.Errorf("%v: reason %s retry-after %s", pe, pe.Reason(), pe.RetryAfter)
			}
			if strings.Contains(pe.Error(), "secret-key") {
				t.Errorf("error shows the key: %v", pe)
			}
		})
	}
	c, err := provider.New("http://127.0.0.1:1", "secret-key", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Details(context.Background(), vocals, id)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Reason() != "transport" || strings.Contains(err.Error(), "secret-key") {
		t.Errorf("unreachable provider: %v", err)
	}
	if _, err := provider.New("not a url", "k", time.Second); err == nil {
		t.Error("a relative base URL was accepted")
	}
}

// Against the simulator: a submission is forwarded with the key and its
// answer comes back whole; record-info then reads the task.
func TestAgainstSimulator(t *testing.T) {
	sim := sunosim.New(sunosim.Options{APIKey: "secret-key", Fault: sunosim.Fault{Stuck: true}})
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c, err := provider.New(srv.URL, "secret-key", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"uploadUrl":"u","prompt":"p","title":"t","style":"s","negativeTags":"n","callBackUrl":"http://127.0.0.1:1/cb"}`
	a, err := c.Submit(context.Background(), vocals.Submit, []byte(body), "")
	if err != nil || a.Status != 200 || len(a.TaskID) != 32 || !json.Valid(a.Body) || !strings.HasPrefix(a.ContentType, "application/json") {
		t.Fatalf("submit: %+v %v", a, err)
	}
	p, err := c.Details(context.Background(), vocals, a.TaskID)
	if err != nil || p.Status != "PENDING" {
		t.Fatalf("record-info: %+v %v", p, err)
	}
	if p.Stage {
		t.Error("a pending task stands for a callback")
	}
	// A refused submission is still an answer, returned as it came.
	bad, err := c.Submit(context.Background(), vocals.Submit, []byte(`{}`), "Bearer wrong")
	if err != nil || bad.Status != 401 || bad.TaskID != "" {
		t.Errorf("wrong key: %+v %v", bad, err)
	}
}

// FuzzRecordInfo feeds arbitrary answers: parsing never panics, and any
// callback it yields has a stage and, for a failure, a failure code.
func FuzzRecordInfo(f *testing.F) {
	f.Add(`{"code":200,"data":{"taskId":"` + id + `","status":"SUCCESS","response":{"sunoData":[{"id":"a","createTime":1}]}}}`)
	f.Add(`{"code":200,"data":{"status":"CALLBACK_EXCEPTION","errorCode":"x","response":{"sunoData":[{"audioUrl":5}]}}}`)
	f.Add(`{"code":200,"data":{"status":"GENERATE_AUDIO_FAILED","errorCode":200}}`)
	f.Fuzz(func(t *testing.T, body string) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) }))
		defer srv.Close()
		c, _ := provider.New(srv.URL, "k", time.Second)
		p, err := c.Details(context.Background(), vocals, id)
		if err != nil {
			return
		}
		cb, ok := p.Callback, p.Stage
		if !ok {
			return
		}
		if cb.TaskID != id || cb.Stage == "" || cb.CallbackType != string(cb.Stage) {
			t.Fatalf("callback %+v", cb)
		}
		if (cb.Stage == event.StageError) == (cb.Code == callback.SuccessCode) {
			t.Fatalf("stage %s with code %d", cb.Stage, cb.Code)
		}
	})
}

// FuzzDetails feeds arbitrary details answers to every family without
// tracks: reading never panics, and a stage it finds is one of the
// family's, for the polled task, with a failure code exactly when it is
// error.
func FuzzDetails(f *testing.F) {
	f.Add(byte(0), `{"code":200,"data":{"taskId":"`+id+`","status":"SUCCESS","response":{"data":[{"text":"t"}]}}}`)
	f.Add(byte(1), `{"code":200,"data":{"successFlag":"CALLBACK_EXCEPTION","response":{"audioWavUrl":""}}}`)
	f.Add(byte(2), `{"code":200,"data":{"successFlag":"SUCCESS","response":{"vocalUrl":"v","drumsUrl":5}}}`)
	f.Add(byte(3), `{"code":200,"data":{"successFlag":1,"midiData":{"instruments":[{"notes":[{"start":"x"}]}]}}}`)
	f.Add(byte(5), `{"code":200,"data":{"successFlag":3,"errorCode":"413"}}`)
	f.Add(byte(6), `{"code":200,"data":{"taskId":"`+id+`","status":"fail","errorCode":200}}`)
	var fams []family.Family
	for _, fam := range family.All() {
		if !fam.Name.Tracks() {
			fams = append(fams, fam)
		}
	}
	f.Fuzz(func(t *testing.T, which byte, body string) {
		fam := fams[int(which)%len(fams)]
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) }))
		defer srv.Close()
		c, _ := provider.New(srv.URL, "k", time.Second)
		p, err := c.Details(context.Background(), fam, id)
		if err != nil || !p.Stage {
			return
		}
		cb := p.Callback
		if cb.TaskID != id || cb.Family != fam.Name || !fam.Name.HasStage(cb.Stage) {
			t.Fatalf("%s: callback %+v", fam.Name, cb)
		}
		if (cb.Stage == event.StageError) == (cb.Code == callback.SuccessCode) {
			t.Fatalf("%s: stage %s with code %d", fam.Name, cb.Stage, cb.Code)
		}
	})
}

// The client hands its caller's trace context on to the provider's API in
// traceparent, on submissions and on polls alike.
func TestClientPropagatesTheTrace(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("traceparent"))
		mu.Unlock()
		_, _ = w.Write([]byte(`{"code":200,"msg":"ok","data":{"taskId":"` + id + `","status":"PENDING"}}`))
	}))
	defer srv.Close()
	c, _ := provider.New(srv.URL, "k", time.Second)
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := tracing.Context{Parent: parent}.Into(context.Background())
	if _, err := c.Submit(ctx, vocals.Submit, []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Details(ctx, vocals, id); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != parent || seen[1] != parent {
		t.Fatalf("the provider saw traceparent %q", seen)
	}
}
