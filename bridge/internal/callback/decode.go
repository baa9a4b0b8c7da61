package callback

import (
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
	// One copy of the body as a string: every string in the Callback is a
	// slice of it rather than an allocation of its own.
	raw, ok := scanCallback(string(body))
	if !ok {
		return cb, &Error{Reason: ReasonMalformedJSON, Detail: "body is not valid JSON"}
	}
	if !raw.isObject {
		return cb, &Error{Reason: ReasonInvalidField, Detail: "body must be a JSON object"}
	}

	if raw.code == "" {
		return cb, &Error{Reason: ReasonMissingField, Field: "code", Detail: "required"}
	}
	var valid bool
	if cb.Code, valid = parseInt(raw.code); !valid {
		return cb, &Error{Reason: ReasonInvalidField, Field: "code", Detail: "must be an integer"}
	}
	var err error
	if cb.Msg, err = optString(raw.msg, "msg"); err != nil {
		return cb, err
	}

	if raw.data == "" {
		return cb, &Error{Reason: ReasonMissingField, Field: "data", Detail: "required"}
	}
	if !raw.body.isObject {
		return cb, &Error{Reason: ReasonInvalidField, Field: "data", Detail: "must be an object"}
	}
	data := &raw.body
	cb.EnvelopeExtra = extras(raw.extra)

	if data.taskID == "" {
		return cb, &Error{Reason: ReasonMissingField, Field: "data.task_id", Detail: "required"}
	}
	if cb.TaskID, valid = unquote(data.taskID); !valid {
		return cb, &Error{Reason: ReasonInvalidField, Field: "data.task_id", Detail: "must be a string"}
	}
	if !ValidTaskID(cb.TaskID) {
		return cb, &Error{Reason: ReasonInvalidTaskID, Field: "data.task_id",
			Detail: "must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'"}
	}

	if cb.CallbackType, err = optString(data.callbackType, "data.callbackType"); err != nil {
		return cb, err
	}
	if cb.Stage, err = stageOf(cb.Code, cb.CallbackType); err != nil {
		return cb, err
	}

	if data.tracks != "" {
		if cb.Tracks, err = decodeTracks(data); err != nil {
			return cb, err
		}
	}
	cb.Extra = extras(data.extra)
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

func decodeTracks(data *rawData) ([]Track, error) {
	if data.tracks[0] != '[' {
		return nil, &Error{Reason: ReasonInvalidField, Field: "data.data", Detail: "must be an array of tracks or null"}
	}
	tracks := make([]Track, len(data.items))
	for i := range data.items {
		rt, t := &data.items[i], &tracks[i]
		if !rt.isObject {
			return nil, &Error{Reason: ReasonInvalidField, Field: trackPath(i), Detail: "must be an object"}
		}
		for j, dst := range [...]*string{&t.ID, &t.AudioURL, &t.SourceAudioURL, &t.StreamAudioURL,
			&t.SourceStreamAudioURL, &t.ImageURL, &t.SourceImageURL, &t.Prompt, &t.ModelName, &t.Title,
			&t.Tags, &t.CreateTime} {
			var ok bool
			if *dst, ok = unquoteOpt(rt.fields[j]); !ok {
				return nil, &Error{Reason: ReasonInvalidField, Field: trackPath(i) + "." + trackKeys[j],
					Detail: "must be a string or null"}
			}
		}
		if rt.duration != "" {
			v, ok := parseFloat(rt.duration)
			if !ok {
				return nil, &Error{Reason: ReasonInvalidField, Field: trackPath(i) + ".duration", Detail: "must be a number or null"}
			}
			t.Duration = &v
		}
		t.Extra = extras(rt.extra)
	}
	return tracks, nil
}

func trackPath(i int) string { return "data.data[" + strconv.Itoa(i) + "]" }

// optString reads an optional string member; absent or null is "".
func optString(raw, field string) (string, error) {
	s, ok := unquoteOpt(raw)
	if !ok {
		return "", &Error{Reason: ReasonInvalidField, Field: field, Detail: "must be a string or null"}
	}
	return s, nil
}

func unquoteOpt(raw string) (string, bool) {
	if raw == "" {
		return "", true
	}
	return unquote(raw)
}

// extras turns unmodelled members into a map, nil if none; for duplicates
// the last wins.
func extras(list []member) map[string]json.RawMessage {
	if len(list) == 0 {
		return nil
	}
	out := make(map[string]json.RawMessage, len(list))
	for _, m := range list {
		out[m.key] = json.RawMessage(m.val)
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

// parseInt reads a JSON number literal that must be a whole number.
func parseInt(lit string) (int, bool) {
	n, err := strconv.ParseInt(lit, 10, 64)
	if err != nil || n != int64(int(n)) {
		return 0, false
	}
	return int(n), true
}

// parseFloat reads a JSON number literal.
func parseFloat(lit string) (float64, bool) {
	if len(lit) == 0 || (lit[0] != '-' && (lit[0] < '0' || lit[0] > '9')) {
		return 0, false // a string, object, bool...
	}
	f, err := strconv.ParseFloat(lit, 64)
	return f, err == nil
}
