package cloudevent_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
)

// BenchmarkDecodeBuild is the CPU cost of one callback before the broker:
// decode and validate the body, then build the CloudEvent.
func BenchmarkDecodeBuild(b *testing.B) {
	for _, name := range []string{"complete.json", "first.json", "error-531.json"} {
		raw, err := os.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			b.Fatal(err)
		}
		bld := cloudevent.NewBuilder("vocals", "/vocals-bridge", "http://localhost:8080/schemas", time.UTC)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				cb, err := callback.Decode(raw)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := bld.Build(cb, cloudevent.Source{Body: raw}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
