package callback

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Decode parses a callback body. Keys are matched exactly (encoding/json
// alone would accept "Task_ID" for "task_id"), unknown keys are kept, and
// every error is an *Error wrapping ErrInvalid.
//
// Stage rules: with code 200 the stage is the callbackType, which must be
// text, first, complete or error; any other code is a failure and the stage
// is error whatever the callbackType says (it is kept as sent, and may be
// missing, so that no failure report is refused).
func Decode(body []byte) (Callback, error) {
	var cb Callback
	if !utf8.Valid(body) {
		return cb, &Error{Reason: ReasonInvalidEncoding, Detail: "body is not valid UTF-8"}
	}
	if !json.Valid(body) {
		return cb, &Error{Reason: ReasonMalformedJSON, Detail: "body is not valid JSON"}
	}
	top, err := object(body, "")
	if err != nil {
		return cb, err
	}

	codeRaw, ok := take(&top, "code")
	if !ok {
		return cb, &Error{Reason: ReasonMissingField, Field: "code", Detail: "required"}
	}
	var valid bool
	if cb.Code, valid = parseInt(codeRaw); !valid {
		return cb, &Error{Reason: ReasonInvalidField, Field: "code", Detail: "must be an integer"}
	}
	if cb.Msg, err = optString(&top, "msg", ""); err != nil {
		return cb, err
	}

	dataRaw, ok := take(&top, "data")
	if !ok {
		return cb, &Error{Reason: ReasonMissingField, Field: "data", Detail: "required"}
	}
	data, err := object(dataRaw, "data")
	if err != nil {
		return cb, err
	}
	cb.EnvelopeExtra = nonEmpty(top)

	idRaw, ok := take(&data, "task_id")
	if !ok {
		return cb, &Error{Reason: ReasonMissingField, Field: "data.task_id", Detail: "required"}
	}
	if cb.TaskID, valid = unquote(idRaw); !valid {
		return cb, &Error{Reason: ReasonInvalidField, Field: "data.task_id", Detail: "must be a string"}
	}
	if !ValidTaskID(cb.TaskID) {
		return cb, &Error{Reason: ReasonInvalidTaskID, Field: "data.task_id",
			Detail: "must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'"}
	}

	if cb.CallbackType, err = optString(&data, "callbackType", "data"); err != nil {
		return cb, err
	}
	if cb.Stage, err = stageOf(cb.Code, cb.CallbackType); err != nil {
		return cb, err
	}

	if tracksRaw, ok := take(&data, "data"); ok {
		if cb.Tracks, err = decodeTracks(tracksRaw); err != nil {
			return cb, err
		}
	}
	cb.Extra = nonEmpty(data)
	return cb, nil
}

func stageOf(code int, callbackType string) (Stage, error) {
	if code != SuccessCode {
		return StageError, nil
	}
	switch s := Stage(callbackType); s {
	case StageText, StageFirst, StageComplete, StageError:
		return s, nil
	case "":
		return "", &Error{Reason: ReasonMissingField, Field: "data.callbackType", Detail: "required when code is 200"}
	default:
		return "", &Error{Reason: ReasonUnknownCallbackType, Field: "data.callbackType",
			Detail: fmt.Sprintf("%q is not text, first, complete or error", truncate(callbackType, 40))}
	}
}

func decodeTracks(raw json.RawMessage) ([]Track, error) {
	items, ok := splitArray(raw)
	if !ok {
		return nil, &Error{Reason: ReasonInvalidField, Field: "data.data", Detail: "must be an array of tracks or null"}
	}
	tracks := make([]Track, 0, len(items))
	for i, item := range items {
		path := "data.data[" + strconv.Itoa(i) + "]"
		m, err := object(item, path)
		if err != nil {
			return nil, err
		}
		var t Track
		for _, f := range []struct {
			key string
			dst *string
		}{
			{"id", &t.ID},
			{"audio_url", &t.AudioURL},
			{"source_audio_url", &t.SourceAudioURL},
			{"stream_audio_url", &t.StreamAudioURL},
			{"source_stream_audio_url", &t.SourceStreamAudioURL},
			{"image_url", &t.ImageURL},
			{"source_image_url", &t.SourceImageURL},
			{"prompt", &t.Prompt},
			{"model_name", &t.ModelName},
			{"title", &t.Title},
			{"tags", &t.Tags},
			{"createTime", &t.CreateTime},
		} {
			if *f.dst, err = optString(&m, f.key, path); err != nil {
				return nil, err
			}
		}
		if d, ok := take(&m, "duration"); ok {
			v, ok := parseFloat(d)
			if !ok {
				return nil, &Error{Reason: ReasonInvalidField, Field: path + ".duration", Detail: "must be a number or null"}
			}
			t.Duration = &v
		}
		t.Extra = nonEmpty(m)
		tracks = append(tracks, t)
	}
	return tracks, nil
}

// object splits raw as a JSON object. A null or non-object is an error.
func object(raw []byte, path string) (members, error) {
	if m, ok := splitObject(raw); ok {
		return m, nil
	}
	if path == "" {
		return nil, &Error{Reason: ReasonInvalidField, Detail: "body must be a JSON object"}
	}
	return nil, &Error{Reason: ReasonInvalidField, Field: path, Detail: "must be an object"}
}

// take removes every member named key from m and returns the last one's
// value (later duplicates win, as with encoding/json); JSON null counts as
// absent.
func take(m *members, key string) ([]byte, bool) {
	var v []byte
	found := false
	kept := (*m)[:0]
	for _, mb := range *m {
		if string(mb.key) == key {
			v, found = mb.val, true
			continue
		}
		kept = append(kept, mb)
	}
	*m = kept
	if !found || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil, false
	}
	return v, true
}

// optString takes an optional string; absent or null is "". parent is the
// path of m, joined to key only for an error (this runs a dozen times per
// track).
func optString(m *members, key, parent string) (string, error) {
	raw, ok := take(m, key)
	if !ok {
		return "", nil
	}
	s, ok := unquote(raw)
	if !ok {
		field := key
		if parent != "" {
			field = parent + "." + key
		}
		return "", &Error{Reason: ReasonInvalidField, Field: field, Detail: "must be a string or null"}
	}
	return s, nil
}

// nonEmpty returns the members not taken, nil if none; for duplicates the
// last wins.
func nonEmpty(m members) map[string]json.RawMessage {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]json.RawMessage, len(m))
	for _, mb := range m {
		out[string(mb.key)] = mb.val
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
