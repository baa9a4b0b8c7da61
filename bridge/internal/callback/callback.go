// Package callback decodes the provider's add-vocals callback bodies into a
// typed Callback and decides its stage. It is the only code that parses
// untrusted bytes: everything after it works on validated values.
package callback

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Stage is the pipeline stage an event reports. It is the last subject token.
type Stage string

// The stages, in the order the provider reaches them. text and first may be
// skipped; error can come at any point.
const (
	StageText     Stage = "text"
	StageFirst    Stage = "first"
	StageComplete Stage = "complete"
	StageError    Stage = "error"
)

// Stages lists every stage.
var Stages = []Stage{StageText, StageFirst, StageComplete, StageError}

// SuccessCode is the only code that means the callback reports progress
// rather than failure.
const SuccessCode = 200

// Callback is one decoded provider callback. Its strings share one copy of
// the body (see Decode): a field kept long after the request should be
// cloned (strings.Clone) so it does not hold the whole body alive.
type Callback struct {
	Code         int
	Msg          string
	CallbackType string // as sent; may be empty or unknown on failures
	TaskID       string // safe as a NATS subject token
	Stage        Stage
	Tracks       []Track
	// Extra holds keys of the callback's "data" object that are not modelled;
	// EnvelopeExtra those of the top-level object. Values are raw JSON.
	Extra         map[string]json.RawMessage
	EnvelopeExtra map[string]json.RawMessage
}

// Track is one generated track as the provider describes it.
type Track struct {
	ID                   string
	AudioURL             string
	SourceAudioURL       string
	StreamAudioURL       string
	SourceStreamAudioURL string
	ImageURL             string
	SourceImageURL       string
	Prompt               string
	ModelName            string
	Title                string
	Tags                 string
	CreateTime           string   // provider format "2006-01-02 15:04:05", no zone
	Duration             *float64 // nil when absent or null
	Extra                map[string]json.RawMessage
}

// Reason classifies why a body was rejected. The set is fixed so it can be a
// metric label.
type Reason string

// Rejection reasons.
const (
	ReasonMalformedJSON       Reason = "malformed_json"
	ReasonInvalidEncoding     Reason = "invalid_encoding"
	ReasonMissingField        Reason = "missing_field"
	ReasonInvalidField        Reason = "invalid_field"
	ReasonInvalidTaskID       Reason = "invalid_task_id"
	ReasonUnknownCallbackType Reason = "unknown_callback_type"
)

// ErrInvalid is wrapped by every decoding error: the body can never become
// an event, so retrying it is pointless.
var ErrInvalid = errors.New("invalid callback")

// Error describes why a body was rejected.
type Error struct {
	Reason Reason
	Field  string // JSON path such as "data.task_id"; empty for the whole body
	Detail string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Reason, e.Detail)
	}
	return fmt.Sprintf("%s: %s: %s", e.Reason, e.Field, e.Detail)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

// ValidTaskID reports whether id is safe as a single NATS subject token:
// 1-128 characters of A-Z, a-z, 0-9, '_' or '-'. (A loop, not a regexp:
// this runs for every callback and event.)
func ValidTaskID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
