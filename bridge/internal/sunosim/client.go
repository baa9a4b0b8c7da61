package sunosim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Submit tries at most this many times, waiting at most maxRetryAfter
// between tries: a bridge that is starting answers its submit proxy with
// 503 and Retry-After until task tracking serves, and 429 and Retry-After
// past its per-source limit.
const (
	submitTries   = 10
	maxRetryAfter = 10 * time.Second
)

// Post sends body to url with header, and sends it again while the answer
// is 503 or 429 with a Retry-After in seconds, waiting as asked (at most
// maxRetryAfter). It returns the last answer's status and body.
func Post(ctx context.Context, c *http.Client, url string, header http.Header, body []byte) (int, []byte, error) {
	for try := 1; ; try++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header = header.Clone()
		resp, err := c.Do(req)
		if err != nil {
			return 0, nil, err
		}
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		retry := resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests
		if !retry || err != nil || secs < 0 || try == submitTries {
			return resp.StatusCode, answer, nil
		}
		t := time.NewTimer(min(time.Duration(secs)*time.Second, maxRetryAfter))
		select {
		case <-ctx.Done():
			t.Stop()
			return resp.StatusCode, answer, ctx.Err()
		case <-t.C:
		}
	}
}
