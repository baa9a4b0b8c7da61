package main

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

func decode(t *testing.T, body string) consumer.Event {
	t.Helper()
	e, err := consumer.Decode("", nats.Header{"Content-Type": {event.ContentType}}, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCountsFailuresByCode(t *testing.T) {
	s := newStats(prometheus.NewRegistry())
	failure := `{"specversion":"1.0","id":"1","source":"/s","type":"com.sunoapi.vocals.error.v1","datacontenttype":"application/json",
		"data":{"task_id":"t","stage":"error","callback_type":"error","code":531,"code_reason":"failed_refunded","msg":"m","tracks":[]}}`
	for i := 0; i < 2; i++ {
		if err := s.handle(context.Background(), decode(t, failure)); err != nil {
			t.Fatal(err)
		}
	}
	if got := testutil.ToFloat64(s.failures.WithLabelValues("vocals", "531", "failed_refunded")); got != 2 {
		t.Fatalf("counted %v, want 2", got)
	}
	wav := `{"specversion":"1.0","id":"3","source":"/s","type":"com.sunoapi.wav.error.v1","datacontenttype":"application/json",
		"data":{"task_id":"t","stage":"error","callback_type":"","code":500,"code_reason":"server_error","msg":"m","audio_wav_url":""}}`
	if err := s.handle(context.Background(), decode(t, wav)); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(s.failures.WithLabelValues("wav", "500", "server_error")); got != 1 {
		t.Fatalf("counted %v wav failures, want 1", got)
	}
	complete := `{"specversion":"1.0","id":"2","source":"/s","type":"com.sunoapi.vocals.complete.v1","datacontenttype":"application/json",
		"data":{"task_id":"t","stage":"complete","callback_type":"complete","code":200,"code_reason":"success","msg":"","tracks":[]}}`
	err := s.handle(context.Background(), decode(t, complete))
	if err == nil || errors.Unwrap(err) == nil {
		t.Fatal("a non-failure event must be terminated, not counted")
	}
}
