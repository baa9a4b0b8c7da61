// Package gcpace paces the garbage collector from the live heap: a small
// heap may grow by a fixed headroom between collections instead of by its
// own size (GOGC=100), and a heap larger than the headroom is paced as usual.
//
// The bridge keeps little alive (about 10 MiB with an external server) and
// nearly everything it allocates is per-request garbage, so at GOGC=100 it
// collected four times a second at 5,000 callbacks/s, each cycle with a
// stop of up to 2 ms and a mark phase taking a share of both cores: that was
// the latency tail. Setting GOGC turns the pacer off; GOMEMLIMIT still caps
// the heap, as the runtime documents.
package gcpace

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// Percent is the GOGC value that lets a live heap of live bytes grow by
// headroom before the next collection: never below Go's default of 100,
// and at most 1000 so that an almost empty heap is not given a goal far
// beyond what it will ever use.
func Percent(live, headroom uint64) int {
	if live == 0 {
		return 1000
	}
	return int(min(max(headroom*100/live, 100), 1000))
}

// Start paces the collector after every collection from now on, and
// reports whether it does: not when the operator set GOGC.
func Start(headroom uint64) bool {
	if _, set := os.LookupEnv("GOGC"); set {
		return false
	}
	p := &pacer{headroom: headroom, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	p.pace()
	p.arm()
	return true
}

type pacer struct {
	headroom uint64
	sample   []metrics.Sample
	percent  atomic.Int64 // the last value set
	stopped  atomic.Bool  // for tests: the next finalizer does not re-arm
}

// arm attaches a finalizer to a fresh object: it runs after the next
// collection, paces, and arms again, so the goal always follows the live
// heap that collection measured.
func (p *pacer) arm() {
	sentinel := new([16]byte)
	runtime.SetFinalizer(sentinel, func(*[16]byte) {
		if p.stopped.Load() {
			return
		}
		p.pace()
		p.arm()
	})
}

func (p *pacer) pace() {
	metrics.Read(p.sample)
	if p.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	percent := Percent(p.sample[0].Value.Uint64(), p.headroom)
	if int64(percent) != p.percent.Load() {
		debug.SetGCPercent(percent)
		p.percent.Store(int64(percent))
	}
}
