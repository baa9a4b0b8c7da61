package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
)

// Polled is what a details answer says of a task.
type Polled struct {
	// Callback is the callback the answer stands for, when Stage is true.
	Callback callback.Callback
	// Stage is false while the task is pending, or in a state this bridge
	// does not know.
	Stage  bool
	Status string // the status word or flag as sent
	Raw    []byte // the answer as received
}

// Details fetches a task's state from its family's details endpoint and
// reads it with the family's vocabulary. Like the provider's own
// callbacks, earlier stages are not implied. A non-success answer, and
// one that cannot stand for a callback of the family, is an *Error.
func (c *Client) Details(ctx context.Context, f family.Family, taskID string) (Polled, error) {
	if f.Name.Tracks() { // the music families answer as add-vocals does
		info, err := c.recordInfoWith(ctx, f.Details, taskID, f.Kind.Limits)
		if err != nil {
			return Polled{}, err
		}
		cb, ok := info.Callback(f.Status)
		cb.Family = f.Name
		return Polled{Callback: cb, Stage: ok && f.Name.HasStage(cb.Stage), Status: info.Status, Raw: info.Raw}, nil
	}
	resp, raw, err := c.get(ctx, f.Details, taskID)
	if err != nil {
		return Polled{}, err
	}
	if err := bounded(resp, raw, f.Kind.Limits); err != nil {
		return Polled{}, err
	}
	p, code, msg, perr := readDetails(f, taskID, raw)
	if resp.StatusCode != http.StatusOK || perr != nil {
		return Polled{}, answerError(resp, code, msg, perr)
	}
	return p, nil
}

// readDetails reads a details answer of family f (not a music family) for
// taskID: the envelope's code and msg always (when the body is JSON at
// all), and what it says of the task when the code is 200.
func readDetails(f family.Family, taskID string, raw []byte) (Polled, int, string, error) {
	var env struct {
		Code int                        `json:"code"`
		Msg  string                     `json:"msg"`
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return Polled{}, 0, "", err
	}
	switch {
	case env.Code != 200:
		return Polled{}, env.Code, env.Msg, fmt.Errorf("code %d", env.Code)
	case env.Data == nil:
		return Polled{}, env.Code, env.Msg, errNoData
	}
	refuse := func(format string, a ...any) (Polled, int, string, error) {
		return Polled{}, env.Code, env.Msg, fmt.Errorf(format, a...)
	}
	var id string
	if json.Unmarshal(env.Data["taskId"], &id) == nil && id != "" && id != taskID {
		return refuse("answer is for task %q", id)
	}
	status := scalar(env.Data[f.Status.Field])
	p := Polled{Status: status, Raw: raw}
	stage, ok := f.Status.Stage(status)
	delivery := f.Status.Delivery != "" && strings.EqualFold(status, f.Status.Delivery)
	if !ok && !delivery {
		return p, env.Code, env.Msg, nil
	}
	members := f.Result.Members(env.Data)
	members["record_status"], _ = json.Marshal(status)
	code, msg := callback.SuccessCode, "record-info status "+status
	if stage == event.StageError {
		if code = looseInt(env.Data["errorCode"]); code == 0 || code == callback.SuccessCode {
			code = f.Status.Code(status)
		}
		var m string
		if json.Unmarshal(env.Data["errorMessage"], &m) == nil && m != "" {
			msg = m
		}
	}
	cb, err := f.Callback(taskID, code, msg, members)
	if delivery && (err != nil || !family.HasResult(cb)) {
		// Generated nothing it could deliver: a failure.
		stage = event.StageError
		cb, err = f.Callback(taskID, 500, msg, map[string]json.RawMessage{"record_status": members["record_status"]})
	} else if delivery {
		stage = event.StageComplete
	}
	if err != nil {
		return refuse("answer does not make a %s callback: %v", f.Name, err)
	}
	if cb.Stage != stage {
		return refuse("answer is inconsistent: status %s but a %s result", status, cb.Stage)
	}
	p.Callback, p.Stage = cb, true
	return p, env.Code, env.Msg, nil
}

// scalar is a string or a number as written, trimmed; "" for anything else.
func scalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
