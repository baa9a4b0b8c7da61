package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
)

// TaskInfo is a task's state as record-info reports it.
type TaskInfo struct {
	TaskID       string
	Status       string
	ErrorCode    int // 0 when absent
	ErrorMessage string
	Tracks       []callback.Track
	Raw          []byte // the answer as received
}

// raw shapes of the answer; loosely typed where the provider is loose.
type rawInfo struct {
	Code int             `json:"code"`
	Msg  string          `json:"msg"`
	Data json.RawMessage `json:"data"`
}

type rawData struct {
	TaskID   string `json:"taskId"`
	Status   string `json:"status"`
	Response *struct {
		SunoData []map[string]json.RawMessage `json:"sunoData"`
	} `json:"response"`
	ErrorCode    json.RawMessage `json:"errorCode"`
	ErrorMessage *string         `json:"errorMessage"`
}

var errNoData = errors.New("answer has no data")

// parseRecordInfo reads an answer: the envelope's code and msg always (when
// the body is JSON at all), the task when the code is 200.
func parseRecordInfo(raw []byte) (TaskInfo, int, string, error) {
	var env rawInfo
	if err := json.Unmarshal(raw, &env); err != nil {
		return TaskInfo{}, 0, "", err
	}
	if env.Code != 200 {
		return TaskInfo{}, env.Code, env.Msg, nil
	}
	var d rawData
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return TaskInfo{}, env.Code, env.Msg, errNoData
	}
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return TaskInfo{}, env.Code, env.Msg, err
	}
	info := TaskInfo{TaskID: d.TaskID, Status: strings.ToUpper(strings.TrimSpace(d.Status)), ErrorCode: looseInt(d.ErrorCode)}
	if d.ErrorMessage != nil {
		info.ErrorMessage = *d.ErrorMessage
	}
	if d.Response != nil {
		if n := len(d.Response.SunoData); n > callback.MaxTracks {
			return TaskInfo{}, env.Code, env.Msg, fmt.Errorf("answer has %d tracks, more than %d", n, callback.MaxTracks)
		}
		for _, item := range d.Response.SunoData {
			info.Tracks = append(info.Tracks, track(item))
		}
	}
	return info, env.Code, env.Msg, nil
}

// looseInt reads a number or a numeric string; anything else is 0.
func looseInt(raw json.RawMessage) int {
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if i, err := strconv.Atoi(n.String()); err == nil {
			return i
		}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if i, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
			return i
		}
	}
	return 0
}

// trackFields maps record-info's camelCase names to a callback track's.
var trackFields = map[string]func(*callback.Track) *string{
	"id":                   func(t *callback.Track) *string { return &t.ID },
	"audioUrl":             func(t *callback.Track) *string { return &t.AudioURL },
	"sourceAudioUrl":       func(t *callback.Track) *string { return &t.SourceAudioURL },
	"streamAudioUrl":       func(t *callback.Track) *string { return &t.StreamAudioURL },
	"sourceStreamAudioUrl": func(t *callback.Track) *string { return &t.SourceStreamAudioURL },
	"imageUrl":             func(t *callback.Track) *string { return &t.ImageURL },
	"sourceImageUrl":       func(t *callback.Track) *string { return &t.SourceImageURL },
	"prompt":               func(t *callback.Track) *string { return &t.Prompt },
	"modelName":            func(t *callback.Track) *string { return &t.ModelName },
	"title":                func(t *callback.Track) *string { return &t.Title },
	"tags":                 func(t *callback.Track) *string { return &t.Tags },
}

// track converts one sunoData item. Strings of another type, and keys not
// modelled, go to Extra as sent; createTime may be the callback's
// "2006-01-02 15:04:05" or Unix milliseconds.
func track(item map[string]json.RawMessage) callback.Track {
	var t callback.Track
	for k, v := range item {
		if field, ok := trackFields[k]; ok {
			var s *string
			if json.Unmarshal(v, &s) == nil {
				if s != nil {
					*field(&t) = *s
				}
				continue
			}
		}
		switch k {
		case "duration":
			var f *float64
			if json.Unmarshal(v, &f) == nil {
				t.Duration = f
				continue
			}
		case "createTime":
			var s string
			if json.Unmarshal(v, &s) == nil {
				t.CreateTime = s
				continue
			}
			var ms int64
			if json.Unmarshal(v, &ms) == nil && ms > 0 {
				t.CreateTime = time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
				continue
			}
		}
		if t.Extra == nil {
			t.Extra = map[string]json.RawMessage{}
		}
		t.Extra[k] = v
	}
	return t
}

// Callback is the callback the task's state stands for, read with the
// family's vocabulary v, and false when it stands for none yet (pending,
// or a status this bridge does not know). Earlier stages are not implied:
// like the provider's own callbacks, a task first seen at SUCCESS gives
// only complete. v's Delivery value means the provider failed to deliver,
// not to generate: complete when the tracks have audio, else error.
func (i TaskInfo) Callback(v family.Vocabulary) (callback.Callback, bool) {
	cb := callback.Callback{
		Family: event.FamilyVocals, Code: callback.SuccessCode, Msg: "record-info status " + i.Status, TaskID: i.TaskID,
		Tracks: i.Tracks, Extra: map[string]json.RawMessage{"record_status": mustJSON(i.Status)},
	}
	stage, ok := v.Stage(i.Status)
	switch {
	case ok:
		cb.Stage = stage
	case v.Delivery != "" && strings.EqualFold(i.Status, v.Delivery):
		cb.Stage = event.StageError
		for _, t := range i.Tracks {
			if t.AudioURL != "" {
				cb.Stage = event.StageComplete
			}
		}
	default:
		return callback.Callback{}, false
	}
	cb.CallbackType = string(cb.Stage)
	if cb.Stage == event.StageError {
		cb.Code = i.ErrorCode
		if cb.Code == 0 || cb.Code == callback.SuccessCode {
			cb.Code = v.Code(i.Status)
		}
		if i.ErrorMessage != "" {
			cb.Msg = i.ErrorMessage
		}
		cb.Tracks = nil
	}
	return cb, true
}

func mustJSON(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
