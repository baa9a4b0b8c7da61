// Package event is the bridge's published contract, for the services that
// consume its events: CloudEvent types, stages, deterministic ids,
// subjects, the v1 data as Go types, the JSON Schemas, and the two content
// modes. It imports nothing of the bridge's own; the bridge builds events
// in an internal package.
package event

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Stage is the pipeline stage an event reports: text, first, complete or
// error. It is the last token of the subject and part of the type.
type Stage string

// The stages, in the order the provider reaches them. text and first may be
// skipped; error can come at any point.
const (
	StageText     Stage = "text"
	StageFirst    Stage = "first"
	StageComplete Stage = "complete"
	StageError    Stage = "error"
)

// Stages lists every stage the provider reports.
func Stages() []Stage { return []Stage{StageText, StageFirst, StageComplete, StageError} }

// StageTimeout is the bridge's own verdict, not a provider stage: a
// tracked task reached no terminal stage before its deadline. Its data is
// an error (data stage "error", code 408), and it has a subject of its own
// (<prefix>.<task_id>.timeout), so the provider's own error, should it
// come later, still reaches the error subject.
const StageTimeout Stage = "timeout"

// ValidTaskID reports whether id is safe as a single NATS subject token:
// 1-128 characters of A-Z, a-z, 0-9, '_' or '-'. Every task id in a
// subject, an id or an event has passed it.
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
func ID(taskID string, stage Stage) string {
	return uuid.NewSHA1(idNamespace, []byte(taskID+"/"+string(stage))).String()
}

// Type is the CloudEvents type of a stage, e.g. com.sunoapi.vocals.complete.v1.
func Type(stage Stage) string { return TypePrefix + string(stage) + "." + Version }

// Subject is the NATS subject of a task's stage: <prefix>.<task_id>.<stage>.
func Subject(prefix, taskID string, stage Stage) string {
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

// BodyHashExtension is the CloudEvents extension attribute holding the hex
// SHA-256 of the callback body as received, so consumers can audit an event
// against the request it came from (the provider's signature does not
// cover the body).
const BodyHashExtension = "bodysha256"

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
	// Request is the submitted request as forwarded, without callBackUrl;
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
