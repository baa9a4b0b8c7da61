// Package event defines the bridge's published contract: CloudEvent types,
// deterministic ids, subjects, and the v1 data schema as Go types. It also
// builds those events from decoded callbacks.
//
// Consumers may import this package for the data types and constants.
package event

import (
	"crypto/sha1"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
)

// Stage is the pipeline stage an event reports: text, first, complete or
// error. It is the last token of the subject and part of the type.
type Stage = callback.Stage

// The stages.
const (
	StageText     = callback.StageText
	StageFirst    = callback.StageFirst
	StageComplete = callback.StageComplete
	StageError    = callback.StageError
)

// Stages lists every stage.
func Stages() []Stage { return append([]Stage(nil), callback.Stages...) }

// Version is the data version every type and schema of this package carries.
const Version = "v1"

// TypePrefix starts every event type: TypePrefix + stage + "." + Version.
const TypePrefix = "com.sunoapi.vocals."

// ContentType is the NATS Content-Type header of a structured-mode event.
const ContentType = "application/cloudevents+json"

// DataContentType is the datacontenttype attribute.
const DataContentType = "application/json"

// idNamespace makes ids from this bridge distinct from other UUIDv5 users.
var idNamespace = uuid.MustParse("6c0e9c4e-6b1f-4f0e-9d9a-7a8b2f3c5d10")

// ID is the event id for a task's stage: a UUIDv5 of "<task_id>/<stage>".
// Every delivery of the same stage, retried or polled, gets the same id,
// which is also the Nats-Msg-Id that JetStream deduplicates on.
func ID(taskID string, stage callback.Stage) string {
	// uuid.NewSHA1, without its hash and slice allocations: this runs for
	// every callback.
	var scratch [16 + 128 + 1 + 16]byte
	in := append(append(append(append(scratch[:0], idNamespace[:]...), taskID...), '/'), stage...)
	sum := sha1.Sum(in)
	var id uuid.UUID
	copy(id[:], sum[:])
	id[6] = id[6]&0x0f | 0x50 // version 5
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	return id.String()
}

// Type is the CloudEvents type of a stage, e.g. com.sunoapi.vocals.complete.v1.
func Type(stage callback.Stage) string {
	switch stage { // constants for the stages: this runs for every callback
	case StageText:
		return TypePrefix + "text." + Version
	case StageFirst:
		return TypePrefix + "first." + Version
	case StageComplete:
		return TypePrefix + "complete." + Version
	case StageError:
		return TypePrefix + "error." + Version
	}
	return TypePrefix + string(stage) + "." + Version
}

// Subject is the NATS subject of a task's stage: <prefix>.<task_id>.<stage>.
func Subject(prefix, taskID string, stage callback.Stage) string {
	return prefix + "." + taskID + "." + string(stage)
}

// SchemaPath is the path of the data schema below the schema base URL.
const SchemaPath = "/" + Version + "/data.schema.json"

// DataV1 is the event's data: the callback normalised into stable, typed
// fields. Provider keys that are not modelled are kept in Extra fields, so
// nothing the provider sent is lost.
type DataV1 struct {
	TaskID       string `json:"task_id"`
	Stage        string `json:"stage"`
	CallbackType string `json:"callback_type"`
	Code         int    `json:"code"`
	CodeReason   string `json:"code_reason"`
	Msg          string `json:"msg"`
	// Tracks is empty, never null, when the provider sent none.
	Tracks        []TrackV1                  `json:"tracks"`
	Extra         map[string]json.RawMessage `json:"extra,omitempty"`
	EnvelopeExtra map[string]json.RawMessage `json:"envelope_extra,omitempty"`
}

// TrackV1 is one track. Strings the provider left out are "".
type TrackV1 struct {
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
	// CreateTime is createTime read in the configured provider time zone, as
	// RFC 3339; nil when absent or in a format the bridge does not know.
	CreateTime *time.Time `json:"create_time"`
	// CreateTimeRaw is createTime exactly as sent.
	CreateTimeRaw string                     `json:"create_time_raw"`
	Duration      *float64                   `json:"duration"`
	Extra         map[string]json.RawMessage `json:"extra,omitempty"`
}

// Origin says how the bridge learned of a stage. It is the value of the
// OriginExtension attribute of every stage event.
type Origin string

// Origins.
const (
	OriginCallback Origin = "callback" // the provider's callback
	OriginPoll     Origin = "poll"     // a record-info answer
	OriginTimeout  Origin = "timeout"  // no terminal stage before the tracking deadline
)

// OriginExtension is the CloudEvents extension attribute holding the Origin.
const OriginExtension = "origin"

// StageSubmitted is the last subject token of a submitted event. It is not
// a callback stage: submitted events live under TaskSubject, apart from
// the stage subjects.
const StageSubmitted Stage = "submitted"

// SubmittedType is the CloudEvents type of the event published when the
// bridge starts tracking a task.
const SubmittedType = TypePrefix + "submitted." + Version

// SubmittedSchemaPath is the path of the submitted event's data schema
// below the schema base URL.
const SubmittedSchemaPath = "/" + Version + "/submitted.schema.json"

// TaskPrefix is the subject prefix of tracking events for a stage subject
// prefix: "vocals" gives "vocals_tasks".
func TaskPrefix(prefix string) string { return prefix + "_tasks" }

// TaskSubject is the subject of a task's submitted event:
// <prefix>_tasks.<task_id>.submitted.
func TaskSubject(prefix, taskID string) string {
	return TaskPrefix(prefix) + "." + taskID + "." + string(StageSubmitted)
}

// Via says how the bridge learned of a submitted task.
type Via string

// Ways of learning of a task.
const (
	ViaProxy    Via = "proxy"    // submitted through the bridge's submit proxy
	ViaAnnounce Via = "announce" // announced on the announce subject
)

// SubmittedV1 is the data of a submitted event.
type SubmittedV1 struct {
	TaskID string `json:"task_id"`
	Via    string `json:"via"`
	// Request is the add-vocals request as forwarded, without callBackUrl;
	// absent when the task was announced without one.
	Request map[string]json.RawMessage `json:"request,omitempty"`
}

// CodeReason names the provider's documented codes; other codes are "unknown".
func CodeReason(code int) string {
	switch code {
	case 200:
		return "success"
	case 400:
		return "validation_error"
	case 408:
		return "rate_limited"
	case 413:
		return "conflict"
	case 500:
		return "server_error"
	case 501:
		return "generation_failed"
	case 531:
		return "failed_refunded"
	}
	return "unknown"
}
