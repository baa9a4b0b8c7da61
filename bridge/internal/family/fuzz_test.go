package family_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
)

// FuzzFamilies feeds arbitrary bytes to every family's decoding, the route
// chosen by the first byte. Whatever the input: no panic; a rejection is a
// *callback.Error; an accepted body has a safe task id and one of the
// family's stages, and its event builds and decodes with bridge/consumer
// as the same family, task and stage.
func FuzzFamilies(f *testing.F) {
	all := family.All()
	for i, fam := range all {
		for _, ex := range fam.Examples() {
			f.Add(byte(i), ex.Body)
		}
	}
	f.Add(byte(10), []byte(`{"code":200,"task_id":"a","data":{"taskId":"a","instruments":[{"notes":[{"start":"1e400"}]}]}}`))
	f.Add(byte(7), []byte(`{"code":200,"data":{"task_id":"a","data":[{}],"lyricsData":[{"errorMessage":null}]}}`))
	b := cloudevent.NewBuilder("vocals", "/vocals-bridge", "http://localhost/schemas", time.UTC)
	f.Fuzz(func(t *testing.T, which byte, body []byte) {
		fam := all[int(which)%len(all)]
		p, err := fam.Kind.Peek(body)
		var cb callback.Callback
		if err == nil {
			cb, err = fam.Kind.Decode(p, fam.Name)
		}
		if err != nil {
			var cbErr *callback.Error
			if !errors.As(err, &cbErr) || !errors.Is(err, callback.ErrInvalid) {
				t.Fatalf("%s: rejection is not a *callback.Error: %T %v", fam.Name, err, err)
			}
			return
		}
		if !event.ValidTaskID(cb.TaskID) || !fam.Name.HasStage(cb.Stage) {
			t.Fatalf("%s accepted task %q at stage %q", fam.Name, cb.TaskID, cb.Stage)
		}
		msg, err := b.Build(cb, cloudevent.Source{Body: body})
		if err != nil {
			t.Fatalf("%s: accepted but not built: %v", fam.Name, err)
		}
		e, err := consumer.Decode(msg.Subject, nats.Header{"Content-Type": {event.ContentType}}, msg.Body)
		if err != nil {
			t.Fatalf("%s: consumer cannot decode the event: %v\n%s", fam.Name, err, msg.Body)
		}
		if e.Family != fam.Name || e.Stage != cb.Stage || e.Common().TaskID != cb.TaskID {
			t.Fatalf("%s: consumer read %s %s %s", fam.Name, e.Family, e.Stage, e.Common().TaskID)
		}
	})
}
