package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/httpapi"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
)

// blockingSink holds every delivery until released, so a test knows a
// callback is in flight.
type blockingSink struct {
	entered chan struct{}
	release chan struct{}
}

func (s blockingSink) Deliver(context.Context, outbound.Message) (deliver.Result, error) {
	s.entered <- struct{}{}
	<-s.release
	return deliver.Result{Outcome: deliver.Published}, nil
}

// Past max_in_flight a callback is answered 503 with Retry-After at once,
// and the held one still completes.
func TestInFlightCap(t *testing.T) {
	sink := blockingSink{entered: make(chan struct{}, 1), release: make(chan struct{})}
	h := httpapi.NewPublic(httpapi.PublicDeps{
		Log: zaptest.NewLogger(t), Metrics: metrics.New(prometheus.NewRegistry(), "test"),
		Builder: cloudevent.NewBuilder("vocals", "/s", "http://localhost/schemas", time.UTC),
		Sink:    sink, BodyLimit: bodyLimit, RetryAfter: 7 * time.Second, Schemas: event.Schemas(), Families: family.All(),
		Guard: httpapi.GuardConfig{MaxInFlight: 1, RetryAfter: 7 * time.Second},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func() *http.Response {
		resp, err := http.Post(srv.URL+vocalsPath, "application/json", bytes.NewReader(mustJSON(callbackBody(200, "text", "cap"))))
		if err != nil {
			t.Error(err)
			return nil
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	first := make(chan *http.Response, 1)
	go func() { first <- post() }()
	select {
	case <-sink.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("first callback never reached the sink")
	}
	if resp := post(); resp == nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("second callback while one is in flight: %+v", resp)
	}
	close(sink.release)
	if resp := <-first; resp == nil || resp.StatusCode != 200 {
		t.Fatalf("held callback: %+v", resp)
	}
}
