package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	tests := map[string]struct {
		live, headroom uint64
		want           int
	}{
		"small heap gets the headroom":  {16 * mib, 64 * mib, 400},
		"heap as large as the headroom": {64 * mib, 64 * mib, 100},
		"large heap paced as usual":     {512 * mib, 64 * mib, 100},
		"empty heap is capped":          {0, 64 * mib, 1000},
		"tiny heap is capped":           {1024, 64 * mib, 1000},
		"no headroom":                   {16 * mib, 0, 100},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Percent(tc.live, tc.headroom); got != tc.want {
				t.Errorf("Percent(%d, %d) = %d, want %d", tc.live, tc.headroom, got, tc.want)
			}
		})
	}
}

func TestStartHonoursGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "100")
	if Start(1 << 30) {
		t.Fatal("paced although GOGC is set")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC set, yet the percent became %d", got)
	}
}

// The pacer follows the live heap from one collection to the next: with a
// headroom far above this test's heap it sets the cap, and after the heap
// grows past the headroom, Go's default.
func TestPacerFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	p := &pacer{headroom: 8 << 20}
	p.sample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	runtime.GC()
	p.pace()
	if got := p.percent.Load(); got <= 100 {
		t.Fatalf("percent %d for a heap below the 8 MiB headroom", got)
	}
	p.arm()
	defer p.stopped.Store(true)
	ballast := make([][]byte, 0, 64)
	for range 64 { // 64 MiB kept alive, far past the headroom
		ballast = append(ballast, make([]byte, 1<<20))
	}
	for i := 0; i < 20 && p.percent.Load() != 100; i++ { // the finalizer runs after a collection
		runtime.GC()
		runtime.Gosched()
	}
	if got := p.percent.Load(); got != 100 {
		t.Fatalf("percent %d with 64 MiB live, want 100", got)
	}
	runtime.KeepAlive(ballast)
}
