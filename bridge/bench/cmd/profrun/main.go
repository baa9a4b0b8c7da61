package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/bench/load"
)

func main() {
	url := os.Args[1]
	d, _ := time.ParseDuration(os.Args[2])
	run := os.Args[3]
	gen := func(i int64) ([]byte, http.Header) {
		task := fmt.Sprintf("%s%020d", run, i)
		body := []byte(`{"code":200,"msg":"All generated successfully.","data":{"callbackType":"complete","task_id":"` + task +
			`","data":[{"id":"e231c0de-1a2b-4c3d-8e9f-0a1b8cadc7dc","audio_url":"https://example.cn/e231.mp3",` +
			`"stream_audio_url":"https://example.cn/e231","image_url":"https://example.cn/e231.jpeg",` +
			`"prompt":"[Verse] Night city lights shining bright","model_name":"chirp-v4-5","title":"Iron Man",` +
			`"createTime":"2025-01-01 00:00:00","duration":198.44}]}}`)
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte("bench-key"))
		mac.Write([]byte(task + "." + ts))
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("X-Webhook-Timestamp", ts)
		h.Set("X-Webhook-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
		return body, h
	}
	var r load.Result
	if len(os.Args) > 4 {
		rate, _ := strconv.Atoi(os.Args[4])
		r = load.Open(url, rate, d, 4096, gen)
	} else {
		r = load.Closed(url, 64, d, gen)
	}
	fmt.Printf("%.0f/s errors %d p99 %s\n", r.Throughput(), r.Errors, r.Percentile(99))
}
