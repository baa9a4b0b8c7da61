package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/httpapi"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/story"
)

func TestAdminEndpoints(t *testing.T) {
	b := newBridge(t, nil)
	readiness := httpapi.Readiness{Status: httpapi.Ready}
	h := httpapi.NewAdmin(httpapi.AdminDeps{
		Log: zaptest.NewLogger(t), Metrics: b.metrics, Gatherer: b.reg,
		Ready: func(context.Context) httpapi.Readiness { return readiness },
	})
	hs := httptest.NewServer(h)
	defer hs.Close()
	b.postJSON(t, callbackBody(200, "complete", "adm1"))

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz %d", code)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, "ready") {
		t.Errorf("readyz %d %s", code, body)
	}
	readiness = httpapi.Readiness{Status: httpapi.Degraded, Reason: "nats: DISCONNECTED; spooling"}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"degraded"`) {
		t.Errorf("readyz when spooling: %d %s", code, body)
	}
	readiness = httpapi.Readiness{Status: httpapi.Unavailable, Reason: "nats: DISCONNECTED"}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "DISCONNECTED") {
		t.Errorf("readyz when not ready: %d %s", code, body)
	}
	if code, _ := get("/callbacks/vocals"); code != 404 {
		t.Errorf("callback route on admin listener: %d", code)
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("metrics %d", code)
	}
	for _, name := range []string{
		`vocals_bridge_callbacks_received_total{family="vocals",outcome="published",stage="complete"} 1`,
		"vocals_bridge_publish_duration_seconds_bucket",
		"vocals_bridge_http_request_duration_seconds_bucket",
		"vocals_bridge_nats_connected",
		"vocals_bridge_build_info",
		"go_goroutines",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(body, name) {
			t.Errorf("metrics lack %s", name)
		}
	}
}

// The admin API answers loopback clients, or with admin_token set, only
// requests that carry it; a redrive is JSON or nothing.
func TestAdminAPIGuard(t *testing.T) {
	b := newBridge(t, nil)
	api := func(token string) http.Handler {
		return httpapi.NewAdmin(httpapi.AdminDeps{
			Log: zaptest.NewLogger(t), Metrics: b.metrics, Gatherer: b.reg,
			Ready: func(context.Context) httpapi.Readiness { return httpapi.Readiness{Status: httpapi.Ready} },
			API: &httpapi.AdminAPI{Token: token, Story: func(_ context.Context, id string) (story.Story, error) {
				return story.Story{TaskID: id}, nil
			}},
		})
	}
	const token = "0123456789abcdef"
	tests := map[string]struct {
		token, peer, header, method, contentType string
		want                                     int
		path, site                               string
	}{
		"console":                       {"", "127.0.0.1:5000", "", http.MethodGet, "", 200, "/console", ""},
		"console, remote":               {"", "192.0.2.1:5000", "", http.MethodGet, "", 403, "/console", ""},
		"console asks for the token":    {token, "127.0.0.1:5000", "", http.MethodGet, "", 401, "/console", ""},
		"console redrive cross-site":    {"", "127.0.0.1:5000", "", http.MethodPost, "application/x-www-form-urlencoded", 403, "/console/redrive", "cross-site"},
		"console redrive same origin":   {"", "127.0.0.1:5000", "", http.MethodPost, "application/x-www-form-urlencoded", 200, "/console/redrive", "same-origin"},
		"loopback":                      {"", "127.0.0.1:5000", "", http.MethodGet, "", 200, "", ""},
		"loopback v6":                   {"", "[::1]:5000", "", http.MethodGet, "", 200, "", ""},
		"remote without a token":        {"", "192.0.2.1:5000", "", http.MethodGet, "", 403, "", ""},
		"token set, none sent":          {token, "127.0.0.1:5000", "", http.MethodGet, "", 401, "", ""},
		"token set, wrong one":          {token, "192.0.2.1:5000", "x" + token, http.MethodGet, "", 401, "", ""},
		"token set, right one":          {token, "192.0.2.1:5000", token, http.MethodGet, "", 200, "", ""},
		"redrive not json":              {"", "127.0.0.1:5000", "", http.MethodPost, "text/plain", 415, "", ""},
		"redrive form":                  {"", "127.0.0.1:5000", "", http.MethodPost, "application/x-www-form-urlencoded", 415, "", ""},
		"redrive json, no dead letters": {"", "127.0.0.1:5000", "", http.MethodPost, "application/json", 404, "", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := "/api/tasks/t1"
			if tc.method == http.MethodPost {
				path = "/api/deadletters/redrive"
			}
			if tc.path != "" {
				path = tc.path
			}
			req := httptest.NewRequest(tc.method, path, strings.NewReader(`{"seqs":[1]}`))
			if tc.site != "" {
				req.Header.Set("Sec-Fetch-Site", tc.site)
			}
			req.RemoteAddr = tc.peer
			req.Header.Set("X-Forwarded-For", "127.0.0.1") // never believed here
			if tc.header != "" {
				req.Header.Set(httpapi.AdminTokenHeader, tc.header)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			rec := httptest.NewRecorder()
			api(tc.token).ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("%d %s, want %d", rec.Code, rec.Body, tc.want)
			}
		})
	}
}

// With admin_token set, the console asks for it once: a right token sets a
// same-site, HTTP-only cookie that lets the browser in; a wrong one asks
// again.
func TestConsoleLogin(t *testing.T) {
	b := newBridge(t, nil)
	const token = "0123456789abcdef"
	h := httpapi.NewAdmin(httpapi.AdminDeps{
		Log: zaptest.NewLogger(t), Metrics: b.metrics, Gatherer: b.reg,
		Ready: func(context.Context) httpapi.Readiness { return httpapi.Readiness{Status: httpapi.Ready} },
		API:   &httpapi.AdminAPI{Token: token, Story: func(_ context.Context, id string) (story.Story, error) { return story.Story{TaskID: id}, nil }},
	})
	login := func(tok string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/console/login", strings.NewReader("token="+tok))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.RemoteAddr = "192.0.2.1:5000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := login("wrong"); rec.Code != http.StatusUnauthorized || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("a wrong token: %d, cookies %v", rec.Code, rec.Result().Cookies())
	}
	rec := login(token)
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("the right token: %d, cookies %+v", rec.Code, cookies)
	}
	req := httptest.NewRequest(http.MethodGet, "/console?task=t1", nil)
	req.RemoteAddr = "192.0.2.1:5000"
	req.AddCookie(cookies[0])
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "t1") || strings.Contains(rec.Body.String(), `name="token"`) {
		t.Errorf("the console with the cookie: %d\n%s", rec.Code, rec.Body)
	}
}
