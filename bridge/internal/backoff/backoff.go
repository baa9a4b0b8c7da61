// Package backoff is the bridge's one retry pacing: a wait that doubles
// from Min to Max, stretched by up to 20% of jitter so that replicas
// retrying the same broker do not move in step. A wait is never shorter
// than its base, so Min is also a floor (the reconciler's poll interval).
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the wait before the next try. The zero value is not useful:
// set Min and Max. It is not safe for concurrent use; each loop owns one.
type Backoff struct {
	Min, Max time.Duration
	next     time.Duration
}

// Next returns the wait before the next try and doubles the one after.
func (b *Backoff) Next() time.Duration {
	if b.next < b.Min {
		b.next = b.Min
	}
	d := b.next
	b.next = min(b.next*2, b.Max)
	return jitter(d)
}

// Nth is the wait after n consecutive failures (n >= 1), for a caller that
// keeps the count itself, e.g. with a task in a bucket: Min doubled n-1
// times, at most Max, with the same jitter. It leaves b unchanged.
func (b Backoff) Nth(n int) time.Duration {
	d := b.Min
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return jitter(min(d, b.Max))
}

// Reset starts again from Min, after a success.
func (b *Backoff) Reset() { b.next = 0 }

// Sleep waits Next(), or until ctx ends; it reports whether ctx is still live.
func (b *Backoff) Sleep(ctx context.Context) bool {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func jitter(d time.Duration) time.Duration { return d + time.Duration(rand.Int64N(int64(d)/5+1)) }
