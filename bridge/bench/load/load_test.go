package load_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/bench/load"
)

func server(t *testing.T, fail func(n int64) bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if fail(n.Add(1)) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func req(int64) ([]byte, http.Header) { return []byte("{}"), http.Header{} }

// Every request sent is counted once, as a success or an error, and the
// server saw exactly as many.
func TestClosedCountsEveryRequest(t *testing.T) {
	srv, seen := server(t, func(n int64) bool { return n%5 == 0 })
	res := load.Closed(srv.URL, 4, 200*time.Millisecond, req)
	if res.Sent == 0 || res.OK+res.Errors != res.Sent || res.Sent != seen.Load() || res.Errors == 0 {
		t.Fatalf("sent %d ok %d errors %d, server saw %d", res.Sent, res.OK, res.Errors, seen.Load())
	}
	if int64(len(res.Latencies)) != res.OK {
		t.Errorf("%d latencies for %d successes", len(res.Latencies), res.OK)
	}
}

// Open loop schedules rate × duration requests whatever the answers; each
// is either sent (the server sees it) or shed when maxInFlight are
// outstanding, and counted once. How many are shed depends on how fast
// this machine answers, so only the accounting is asserted.
func TestOpenSendsOnSchedule(t *testing.T) {
	srv, seen := server(t, func(n int64) bool { return n%4 == 0 })
	res := load.Open(srv.URL, 500, 400*time.Millisecond, 64, req)
	if res.Sent != 200 || res.OK+res.Errors != 200 || seen.Load() != 200-res.Shed || res.Shed > res.Errors {
		t.Fatalf("sent %d (shed %d), server saw %d, ok %d, errors %d; want 200 scheduled, each sent or shed once",
			res.Sent, res.Shed, seen.Load(), res.OK, res.Errors)
	}
	if failed := seen.Load() / 4; res.Errors != failed+res.Shed {
		t.Fatalf("errors %d, want the %d the server failed plus the %d shed", res.Errors, failed, res.Shed)
	}
}

func TestPercentile(t *testing.T) {
	r := load.Result{Latencies: make([]time.Duration, 100)}
	for i := range r.Latencies {
		r.Latencies[i] = time.Duration(i+1) * time.Millisecond
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 99.9: 100 * time.Millisecond} {
		if got := r.Percentile(p); got != want {
			t.Errorf("p%v = %s, want %s", p, got, want)
		}
	}
	if (load.Result{}).Percentile(99) != 0 {
		t.Error("percentile of nothing")
	}
}
