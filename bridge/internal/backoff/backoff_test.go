package backoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/backoff"
)

func TestDoublesWithinJitterUpToMax(t *testing.T) {
	b := backoff.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for i, base := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		base *= time.Millisecond
		if d := b.Next(); d < base || d > base*12/10 {
			t.Errorf("try %d: waited %s, want %s to 20%% more", i, d, base)
		}
	}
	b.Reset()
	if d := b.Next(); d > 120*time.Millisecond {
		t.Errorf("after Reset: %s", d)
	}
}

func TestSleepEndsWithTheContext(t *testing.T) {
	b := backoff.Backoff{Min: time.Hour, Max: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if b.Sleep(ctx) {
		t.Fatal("Sleep reported a live context after cancel")
	}
}

func TestNthIsTheWaitAfterNFailures(t *testing.T) {
	b := backoff.Backoff{Min: time.Second, Max: 10 * time.Second}
	for n, base := range map[int]time.Duration{1: 1, 2: 2, 3: 4, 4: 8, 5: 10, 50: 10} {
		base *= time.Second
		if d := b.Nth(n); d < base || d > base*12/10 {
			t.Errorf("after %d failures: %s, want %s to 20%% more", n, d, base)
		}
	}
}
