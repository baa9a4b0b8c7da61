package spool_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/spool"
)

// BenchmarkAppend measures a durable append alone and with concurrent
// callers; fsyncs/op shows group commit sharing one fsync among a burst.
func BenchmarkAppend(b *testing.B) {
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			s, _, err := spool.Open(b.TempDir(), spool.Limits{MaxEntries: 1 << 30, MaxBytes: 1 << 40}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var n atomic.Int64
			b.SetParallelism(callers) // goroutines = callers × GOMAXPROCS
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Append(msg(int(n.Add(1)))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(s.Syncs())/float64(b.N), "fsyncs/op")
		})
	}
}
