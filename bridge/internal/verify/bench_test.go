package verify_test

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/verify"
)

// BenchmarkVerify is the per-callback check with the provider's scheme and
// one key, each request for a fresh task (a new replay-cache entry).
func BenchmarkVerify(b *testing.B) {
	cfg := verify.Config{ProviderKeys: [][]byte{[]byte("key")}, Tolerance: 5 * time.Minute, ReplayCacheSize: 100_000}
	const n = 4096 // prepared up front, so signing is not measured
	ts := strconv.FormatInt(now.Unix(), 10)
	reqs := make([]verify.Request, n)
	for i := range reqs {
		task := fmt.Sprintf("%032x", i)
		body := []byte(`{"code":200,"msg":"ok","data":{"callbackType":"complete","task_id":"` + task + `","data":[]}}`)
		reqs[i] = verify.Request{
			Header: headers(verify.HeaderTimestamp, ts, verify.HeaderSignature, providerSig("key", task, ts)),
			Body:   body, BodySum: sha256.Sum256(body), TaskID: task, Now: now,
		}
	}
	var v *verify.Verifier
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%n == 0 { // a new verifier, so every request is new to its replay cache
			b.StopTimer()
			v, _ = verify.New(cfg)
			b.StartTimer()
		}
		if err := v.Verify(reqs[i%n]); err != nil {
			b.Fatal(err)
		}
	}
}
