package callback_test

import (
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
)

func BenchmarkPeekAndDecode(b *testing.B) {
	raw := readFixture(b, "complete.json")
	b.Run("peek", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = callback.Peek(raw)
		}
	})
	p, _ := callback.Peek(raw)
	b.Run("decode after peek", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = p.Decode()
		}
	})
}
