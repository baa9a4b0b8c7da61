package submit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
)

// AnnounceQueue is the queue group of the announce subscription: one
// replica handles each announcement.
const AnnounceQueue = "vocals-bridge"

// AnnounceReply is the answer to an announcement request.
type AnnounceReply struct {
	Tracked bool   `json:"tracked"`
	Created bool   `json:"created"` // false when it was tracked already
	Error   string `json:"error,omitempty"`
}

// Announce subscribes to subject: each message names a task id, as plain
// text or as {"task_id":"...","family":"..."} (family defaults to vocals),
// and is answered with an AnnounceReply when it was sent as a request.
// Unsubscribe the result to stop.
func Announce(nc *nats.Conn, subject string, tr *Tracker, timeout time.Duration, log *zap.Logger) (*nats.Subscription, error) {
	return nc.QueueSubscribe(subject, AnnounceQueue, func(m *nats.Msg) {
		id, fam := parseAnnouncement(m.Data)
		var (
			created bool
			err     error
		)
		// An announcement sent within a trace carries it in its headers,
		// as the bridge's own events do; the submitted event goes on with it.
		ctx := tracing.Context{Parent: m.Header.Get("traceparent"), State: m.Header.Get("tracestate")}.Into(context.Background())
		ctx, span := tracing.Start(ctx, "announce "+string(fam), trace.WithSpanKind(trace.SpanKindConsumer))
		ctx, cancel := context.WithTimeout(ctx, timeout)
		if tr.Enabled(fam) {
			created, err = tr.Track(ctx, fam, id, event.ViaAnnounce, nil)
		} else {
			err = fmt.Errorf("submit: %q is not an enabled family", fam)
		}
		cancel()
		tracing.End(span, err)
		reply := AnnounceReply{Tracked: err == nil, Created: created}
		if err != nil {
			reply.Error = err.Error()
			log.Warn("announcement not tracked", zap.String("task_id", id), zap.Error(err))
		} else if created {
			log.Info("task tracked", zap.String("task_id", id), zap.String("via", string(event.ViaAnnounce)))
		}
		if m.Reply != "" {
			b, _ := json.Marshal(reply)
			_ = m.Respond(b)
		}
	})
}

func parseAnnouncement(data []byte) (string, event.Family) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '{' {
		var v struct {
			TaskID string       `json:"task_id"`
			Family event.Family `json:"family"`
		}
		_ = json.Unmarshal(data, &v)
		if v.Family == "" {
			v.Family = event.FamilyVocals
		}
		return v.TaskID, v.Family
	}
	return string(data), event.FamilyVocals
}
