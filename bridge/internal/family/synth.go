package family

import (
	"encoding/json"
	"strings"
	"unicode"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
)

// Callback is the callback of f that a stage learned another way stands
// for (a details answer, a timeout): a body of f's own shape with code,
// msg and the data members, decoded as a posted one would be. Learning a
// stage by polling so needs no second model of f's data.
func (f Family) Callback(taskID string, code int, msg string, data map[string]json.RawMessage) (callback.Callback, error) {
	d := make(map[string]json.RawMessage, len(data)+1)
	for k, v := range data {
		d[k] = v
	}
	id, _ := json.Marshal(taskID)
	d["task_id"] = id
	if f.Name.Staged() {
		st := event.StageComplete
		if code != callback.SuccessCode {
			st = event.StageError
		}
		if _, ok := d["callbackType"]; !ok {
			d["callbackType"], _ = json.Marshal(string(st))
		}
	}
	body, err := json.Marshal(map[string]any{"code": code, "msg": msg, "data": d})
	if err != nil {
		return callback.Callback{}, err
	}
	p, err := f.Kind.Peek(body)
	if err != nil {
		return callback.Callback{}, err
	}
	return f.Kind.Decode(p, f.Name)
}

// Members reads what a details answer's data carries into the data
// members of f's callback.
func (r Result) Members(answer map[string]json.RawMessage) map[string]json.RawMessage {
	src := answer
	if r.From != "" {
		src = nil
		if raw, ok := answer[r.From]; ok {
			_ = json.Unmarshal(raw, &src) // not an object: no result
		}
	}
	if r.Snake {
		snaked := make(map[string]json.RawMessage, len(src))
		for k, v := range src {
			snaked[snake(k)] = v
		}
		src = snaked
	}
	if src == nil {
		src = map[string]json.RawMessage{}
	}
	if r.Into == "" {
		return src
	}
	inner, _ := json.Marshal(src)
	return map[string]json.RawMessage{r.Into: inner}
}

// snake turns vocalUrl into vocal_url.
func snake(s string) string {
	var b strings.Builder
	for i, c := range s {
		if unicode.IsUpper(c) {
			if i > 0 {
				b.WriteByte('_')
			}
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}

// HasResult reports whether a decoded callback carries something the
// task made (event.Result.Made): a track with audio, a lyric, a URL, an
// image, a note, a voice.
func HasResult(cb callback.Callback) bool {
	if r, ok := cb.Data.(event.Result); ok {
		return r.Made()
	}
	for _, t := range cb.Tracks { // a music callback: tracks, no Data
		if t.AudioURL != "" {
			return true
		}
	}
	return false
}
