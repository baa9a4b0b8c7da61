package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

// BenchmarkCallback posts callbacks with fresh task ids over real HTTP to
// the handler publishing to a real JetStream server (file storage), in
// parallel, and reports the cost per acknowledged callback.
func BenchmarkCallback(b *testing.B) {
	br := newBridge(b, nil)
	var n atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := mustJSON(callbackBody(200, "complete", fmt.Sprintf("bench%d", n.Add(1))))
			resp, err := client.Post(br.url+vocalsPath, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
