package submit

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
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
// text or as {"task_id":"..."}, and is answered with an AnnounceReply when
// it was sent as a request. Unsubscribe the result to stop.
func Announce(nc *nats.Conn, subject string, tr *Tracker, timeout time.Duration, log *zap.Logger) (*nats.Subscription, error) {
	return nc.QueueSubscribe(subject, AnnounceQueue, func(m *nats.Msg) {
		id := parseAnnouncement(m.Data)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		created, err := tr.Track(ctx, id, event.ViaAnnounce, nil)
		cancel()
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

func parseAnnouncement(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '{' {
		var v struct {
			TaskID string `json:"task_id"`
		}
		_ = json.Unmarshal(data, &v)
		return v.TaskID
	}
	return string(data)
}
