// Package load is the benchmark's load generator: closed-loop (N workers
// posting back to back, for throughput) and open-loop (requests sent on a
// fixed schedule whatever the answers, for latency). Open-loop latency is
// measured from when a request was due, not from when it was sent, so a
// stalled server shows up in the percentiles instead of slowing the load
// (no coordinated omission).
package load

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Request builds the i-th request body and headers.
type Request func(i int64) (body []byte, header http.Header)

// Result summarises a run.
type Result struct {
	Sent, OK, Errors int64
	// Shed counts open-loop requests never sent because maxInFlight were
	// outstanding; they are also among the Errors.
	Shed      int64
	Elapsed   time.Duration
	Latencies []time.Duration // of successful requests, sorted
}

// Throughput is successful requests per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Percentile returns the p-th percentile (0 < p <= 100) of the latencies.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies))*p/100+0.5) - 1
	return r.Latencies[max(0, min(i, len(r.Latencies)-1))]
}

// Client returns an HTTP client that keeps up to conns connections open.
func Client(conns int) *http.Client {
	return &http.Client{
		Timeout: 15 * time.Second, // the provider's timeout
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
			IdleConnTimeout: time.Minute, DisableCompression: true,
		},
	}
}

func post(ctx context.Context, c *http.Client, url string, body []byte, h http.Header) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header = h
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

type recorder struct {
	mu   sync.Mutex
	lats []time.Duration
	ok   atomic.Int64
	errs atomic.Int64
	sent atomic.Int64
	shed atomic.Int64
}

func (r *recorder) add(ok bool, d time.Duration) {
	if !ok {
		r.errs.Add(1)
		return
	}
	r.ok.Add(1)
	r.mu.Lock()
	r.lats = append(r.lats, d)
	r.mu.Unlock()
}

func (r *recorder) result(elapsed time.Duration) Result {
	sort.Slice(r.lats, func(i, j int) bool { return r.lats[i] < r.lats[j] })
	return Result{Sent: r.sent.Load(), OK: r.ok.Load(), Errors: r.errs.Load(), Shed: r.shed.Load(), Elapsed: elapsed, Latencies: r.lats}
}

// Closed runs workers that each post, wait for the answer, and post again,
// for the duration.
func Closed(url string, workers int, duration time.Duration, next Request) Result {
	c := Client(workers)
	var (
		rec recorder
		seq atomic.Int64
		wg  sync.WaitGroup
	)
	ctx := context.Background()
	start := time.Now()
	end := start.Add(duration)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				body, h := next(seq.Add(1))
				rec.sent.Add(1)
				t := time.Now()
				rec.add(post(ctx, c, url, body, h), time.Since(t))
			}
		}()
	}
	wg.Wait()
	return rec.result(time.Since(start))
}

// Open sends rate requests per second for the duration, each on its own
// goroutine at its scheduled time, with at most maxInFlight outstanding
// (beyond that a request counts as an error rather than being delayed).
func Open(url string, rate int, duration time.Duration, maxInFlight int, next Request) Result {
	c := Client(maxInFlight)
	var (
		rec recorder
		wg  sync.WaitGroup
	)
	sem := make(chan struct{}, maxInFlight)
	ctx := context.Background()
	interval := time.Second / time.Duration(rate)
	total := int64(duration / interval)
	start := time.Now()
	for i := int64(0); i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		rec.sent.Add(1)
		select {
		case sem <- struct{}{}:
		default:
			rec.errs.Add(1)
			rec.shed.Add(1)
			continue
		}
		body, h := next(i)
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ok := post(ctx, c, url, body, h)
			rec.add(ok, time.Since(due)) // from when it was due
		}()
	}
	wg.Wait()
	return rec.result(time.Since(start))
}
