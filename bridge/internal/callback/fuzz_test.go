package callback_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
)

// FuzzDecode feeds arbitrary bytes through decode and build. Whatever the
// input: no panic; a rejection is a *callback.Error; an accepted body
// yields a safe subject, a valid stage, and an event that bridge/consumer
// decodes, saying the same task and stage.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"code":200,"data":{"task_id":"a.b","callbackType":"text"}}`))
	f.Add([]byte(`{"code":1e3,"data":{"task_id":"x","callbackType":"first","data":[{"duration":1e308}]}}`))
	f.Add([]byte(`{"code":200,"data":{"task_id":"x","callbackType":"complete","data":[{"createTime":"2025-13-40 99:99:99"}]}}`))
	f.Add([]byte(`{"code":200,"data":{"task_id":"x","task_id":"y","callbackType":"text"}}`))
	f.Add(nested(callback.MaxDepth))

	b := cloudevent.NewBuilder("vocals", "/vocals-bridge", "http://localhost/schemas", time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := callback.Decode(body)
		if err != nil {
			var cbErr *callback.Error
			if !errors.As(err, &cbErr) || !errors.Is(err, callback.ErrInvalid) {
				t.Fatalf("rejection is not a *callback.Error: %T %v", err, err)
			}
			return
		}
		if !event.ValidTaskID(cb.TaskID) {
			t.Fatalf("accepted unsafe task id %q", cb.TaskID)
		}
		switch cb.Stage {
		case event.StageText, event.StageFirst, event.StageComplete, event.StageError:
		default:
			t.Fatalf("accepted stage %q", cb.Stage)
		}
		if cb.Code != callback.SuccessCode && cb.Stage != event.StageError {
			t.Fatalf("code %d mapped to %q", cb.Code, cb.Stage)
		}
		msg, err := b.Build(cb, cloudevent.Source{Body: body})
		if err != nil {
			t.Fatalf("accepted callback does not build: %v", err)
		}
		if strings.Count(msg.Subject, ".") != 2 || strings.ContainsAny(msg.Subject, "*> \t\r\n") {
			t.Fatalf("unsafe subject %q", msg.Subject)
		}
		// Every stored event decodes for consumers.
		ev, err := consumer.Decode(msg.Subject, nats.Header{"Content-Type": {event.ContentType}}, msg.Body)
		if err != nil {
			t.Fatalf("consumers cannot decode the event: %v\n%s", err, msg.Body)
		}
		if ev.CloudEvent.ID() != msg.ID || ev.Data.TaskID != cb.TaskID || ev.Data.Stage != string(cb.Stage) {
			t.Fatalf("event disagrees with callback: %+v", ev.Data)
		}
	})
}
