package callback_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
)

// FuzzDecode feeds arbitrary bytes through decode and build. Whatever the
// input: no panic; a rejection is a *callback.Error; an accepted body
// yields a safe subject, a valid stage, and a valid JSON event whose data
// says the same task and stage.
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

	b := event.NewBuilder("vocals", "/vocals-bridge", "http://localhost/schemas", time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := callback.Decode(body)
		if err != nil {
			var cbErr *callback.Error
			if !errors.As(err, &cbErr) || !errors.Is(err, callback.ErrInvalid) {
				t.Fatalf("rejection is not a *callback.Error: %T %v", err, err)
			}
			return
		}
		if !callback.ValidTaskID(cb.TaskID) {
			t.Fatalf("accepted unsafe task id %q", cb.TaskID)
		}
		switch cb.Stage {
		case callback.StageText, callback.StageFirst, callback.StageComplete, callback.StageError:
		default:
			t.Fatalf("accepted stage %q", cb.Stage)
		}
		if cb.Code != callback.SuccessCode && cb.Stage != callback.StageError {
			t.Fatalf("code %d mapped to %q", cb.Code, cb.Stage)
		}
		// Differential: the splitter must read the body as encoding/json
		// does (through maps, which match keys exactly).
		var refTop, refData map[string]json.RawMessage
		if err := json.Unmarshal(body, &refTop); err != nil {
			t.Fatalf("accepted a body encoding/json refuses: %v", err)
		}
		_ = json.Unmarshal(refTop["data"], &refData)
		var (
			refCode   int
			refMsg    string
			refTracks []json.RawMessage
		)
		_ = json.Unmarshal(refTop["code"], &refCode)
		_ = json.Unmarshal(refTop["msg"], &refMsg)
		_ = json.Unmarshal(refData["data"], &refTracks)
		var refTask, refType string
		_ = json.Unmarshal(refData["task_id"], &refTask)
		_ = json.Unmarshal(refData["callbackType"], &refType)
		if cb.Msg != refMsg || cb.Code != refCode || len(cb.Tracks) != len(refTracks) ||
			cb.TaskID != refTask || cb.CallbackType != refType {
			t.Fatalf("read differently from encoding/json: msg %q/%q code %d/%d tracks %d/%d task %q/%q type %q/%q",
				cb.Msg, refMsg, cb.Code, refCode, len(cb.Tracks), len(refTracks), cb.TaskID, refTask, cb.CallbackType, refType)
		}
		for i, raw := range refTracks {
			// Through a map, which matches keys exactly as the decoder does
			// (struct fields would match "Title" for "title").
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(raw, &fields); err != nil {
				t.Fatalf("track %d: accepted what encoding/json refuses: %v", i, err)
			}
			var ref struct {
				ID, Title, Prompt, Tags, AudioURL, CreateTime string
				Duration                                      *float64
			}
			for key, dst := range map[string]any{"id": &ref.ID, "title": &ref.Title, "prompt": &ref.Prompt, "tags": &ref.Tags,
				"audio_url": &ref.AudioURL, "createTime": &ref.CreateTime, "duration": &ref.Duration} {
				if v, ok := fields[key]; ok {
					if err := json.Unmarshal(v, dst); err != nil {
						t.Fatalf("track %d: accepted %s that encoding/json refuses: %v", i, key, err)
					}
				}
			}
			got := cb.Tracks[i]
			if got.ID != ref.ID || got.Title != ref.Title || got.Prompt != ref.Prompt || got.Tags != ref.Tags ||
				got.AudioURL != ref.AudioURL || got.CreateTime != ref.CreateTime || (got.Duration == nil) != (ref.Duration == nil) ||
				got.Duration != nil && *got.Duration != *ref.Duration {
				t.Fatalf("track %d read differently from encoding/json: %+v, want %+v", i, got, ref)
			}
		}
		for k, v := range cb.EnvelopeExtra {
			if string(refTop[k]) != string(v) {
				t.Fatalf("extra key %q: %s, encoding/json %s", k, v, refTop[k])
			}
		}
		for k, v := range cb.Extra {
			if string(refData[k]) != string(v) {
				t.Fatalf("data extra key %q: %s, encoding/json %s", k, v, refData[k])
			}
		}
		msg, err := b.Build(cb, body)
		if err != nil {
			t.Fatalf("accepted callback does not build: %v", err)
		}
		if strings.Count(msg.Subject, ".") != 2 || strings.ContainsAny(msg.Subject, "*> \t\r\n") {
			t.Fatalf("unsafe subject %q", msg.Subject)
		}
		var ev struct {
			ID   string       `json:"id"`
			Data event.DataV1 `json:"data"`
		}
		if err := json.Unmarshal(msg.Body, &ev); err != nil {
			t.Fatalf("event is not JSON: %v\n%s", err, msg.Body)
		}
		if ev.ID != msg.ID || ev.Data.TaskID != cb.TaskID || ev.Data.Stage != string(cb.Stage) {
			t.Fatalf("event disagrees with callback: %+v", ev)
		}
	})
}
