package sunosim_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/sunosim"
)

// Post sends again while a starting bridge answers 503 with Retry-After,
// and gives any other answer back at once.
func TestPostHonoursRetryAfter(t *testing.T) {
	tests := map[string]struct {
		refusals   int64  // 503s before a 200
		retryAfter string // on each 503
		wantTries  int64
		wantStatus int
	}{
		"starting bridge":       {refusals: 2, retryAfter: "0", wantTries: 3, wantStatus: 200},
		"no Retry-After":        {refusals: 2, retryAfter: "", wantTries: 1, wantStatus: 503},
		"a date, not seconds":   {refusals: 2, retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT", wantTries: 1, wantStatus: 503},
		"never ready: gives up": {refusals: 1000, retryAfter: "0", wantTries: 10, wantStatus: 503},
		"answered at first try": {refusals: 0, retryAfter: "0", wantTries: 1, wantStatus: 200},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var tries atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer k" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				if tries.Add(1) <= tc.refusals {
					if tc.retryAfter != "" {
						w.Header().Set("Retry-After", tc.retryAfter)
					}
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				_, _ = w.Write([]byte(`{"code":200}`))
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			status, _, err := sunosim.Post(ctx, srv.Client(), srv.URL, http.Header{"Authorization": {"Bearer k"}}, []byte("{}"))
			if err != nil || status != tc.wantStatus || tries.Load() != tc.wantTries {
				t.Fatalf("status %d after %d tries (err %v), want %d after %d", status, tries.Load(), err, tc.wantStatus, tc.wantTries)
			}
		})
	}
}
