// Package callback decodes the provider's callback bodies, of every family,
// into a typed Callback and decides its stage: first a streaming Peek that bounds
// what a body may cost and finds the task id the signature covers, then a
// declarative decode with json v2. Callback bodies are the untrusted bytes
// of the public listener; the record-info answers of the provider API are
// read in package provider.
package callback

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// SuccessCode is the only code that means the callback reports progress
// rather than failure.
const SuccessCode = 200

// Callback is one decoded provider callback.
type Callback struct {
	Family       event.Family
	Code         int
	Msg          string
	CallbackType string // as sent; may be empty or unknown on failures
	TaskID       string // safe as a NATS subject token (event.ValidTaskID)
	Stage        event.Stage
	Tracks       []Track
	// Extra holds keys of the callback's "data" object that are not modelled;
	// EnvelopeExtra those of the top-level object. Values are raw JSON.
	Extra         map[string]json.RawMessage
	EnvelopeExtra map[string]json.RawMessage
	// Data is the whole event data of a family without tracks
	// (event.LyricsV1, event.WavV1, ...); nil for the music families,
	// whose data the builder makes from Tracks.
	Data any
}

// Track is one generated track as the provider describes it; its tags are
// the provider's member names.
type Track struct {
	ID                   string `json:"id"`
	AudioURL             string `json:"audio_url"`
	SourceAudioURL       string `json:"source_audio_url"`
	StreamAudioURL       string `json:"stream_audio_url"`
	SourceStreamAudioURL string `json:"source_stream_audio_url"`
	ImageURL             string `json:"image_url"`
	SourceImageURL       string `json:"source_image_url"`
	Prompt               string `json:"prompt"`
	ModelName            string `json:"model_name"`
	Title                string `json:"title"`
	Tags                 string `json:"tags"`
	// CreateTime is in the provider's format "2006-01-02 15:04:05", no zone.
	CreateTime string   `json:"createTime"`
	Duration   *float64 `json:"duration"` // nil when absent or null
	// Extra keeps the members not modelled (json v2's embedded fallback).
	Extra map[string]json.RawMessage `json:",embed"`
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
	ReasonDuplicateKey        Reason = "duplicate_key"    // a member name twice in one object
	ReasonTooDeep             Reason = "too_deep"         // nested deeper than MaxDepth
	ReasonTooManyTracks       Reason = "too_many_tracks"  // more than MaxTracks
	ReasonTooManyMembers      Reason = "too_many_members" // more than the kind's Limits.Members
	ReasonTooManyItems        Reason = "too_many_items"   // more array elements than the kind's Limits.Items
	ReasonConflictingTaskID   Reason = "conflicting_task_id"
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
