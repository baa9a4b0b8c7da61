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
