// Package cloudevent turns decoded callbacks (and polled or timed-out stages,
// and submitted tasks) into the CloudEvents of the contract in bridge/event,
// encoded from typed structs with json v2, ready to publish.
package cloudevent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	stdjson "encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
)

// Builder turns decoded callbacks into Messages. It is safe for concurrent use.
type Builder struct {
	families   map[event.Family]target
	source     string
	schemaBase string
	loc        *time.Location
	now        func() time.Time
}

// target is where a family's events go and what their dataschema is.
type target struct {
	prefix, dataSchema, submittedSchema, archivedSchema string
}

// NewBuilder returns a Builder publishing add-vocals under subject prefix
// and every other family under its own name, with the given CloudEvents
// source, the schema base URL (dataschema is schemaBase + the family's
// DataSchemaPath) and the zone the provider's createTime is in.
func NewBuilder(prefix, source, schemaBase string, loc *time.Location) *Builder {
	b := &Builder{source: uri(source), schemaBase: schemaBase, loc: loc, now: time.Now}
	return b.WithPrefixes(map[event.Family]string{event.FamilyVocals: prefix})
}

// WithPrefixes returns a copy of b that publishes each family of prefixes
// under its prefix there; the others keep theirs.
func (b *Builder) WithPrefixes(prefixes map[event.Family]string) *Builder {
	c := *b
	c.families = make(map[event.Family]target, len(event.Families()))
	for _, f := range event.Families() {
		t := target{
			prefix:          string(f),
			dataSchema:      uri(b.schemaBase + f.DataSchemaPath()),
			submittedSchema: uri(b.schemaBase + event.SubmittedSchemaPath),
			archivedSchema:  uri(b.schemaBase + event.ArchivedSchemaPath),
		}
		if old, ok := b.families[f]; ok {
			t.prefix = old.prefix
		}
		if p, ok := prefixes[f]; ok {
			t.prefix = p
		}
		c.families[f] = t
	}
	return &c
}

// Prefix is the subject prefix of family f's stage events.
func (b *Builder) Prefix(f event.Family) string { return b.families[f].prefix }

// uri normalises a URI attribute as sdk-go does: parsed and printed again.
func uri(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.String()
	}
	return s
}

// WithClock returns a copy of b that stamps events with now(); for tests.
func (b *Builder) WithClock(now func() time.Time) *Builder {
	c := *b
	c.now = now
	return &c
}

// providerTimeLayouts are the createTime formats accepted, the provider's
// own first.
var providerTimeLayouts = []string{"2006-01-02 15:04:05", time.RFC3339Nano}

func parseCreateTime(s string, loc *time.Location) (time.Time, bool) {
	for _, layout := range providerTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// Data normalises a callback into the v1 data form.
func (b *Builder) Data(cb callback.Callback) event.DataV1 {
	d := event.DataV1{
		TaskID:        cb.TaskID,
		Stage:         string(cb.Stage),
		CallbackType:  cb.CallbackType,
		Code:          cb.Code,
		CodeReason:    event.CodeReason(cb.Code),
		Msg:           cb.Msg,
		Tracks:        make([]event.TrackV1, 0, len(cb.Tracks)),
		Extra:         cb.Extra,
		EnvelopeExtra: cb.EnvelopeExtra,
	}
	for _, t := range cb.Tracks {
		tv := event.TrackV1{
			ID:                   t.ID,
			AudioURL:             t.AudioURL,
			SourceAudioURL:       t.SourceAudioURL,
			StreamAudioURL:       t.StreamAudioURL,
			SourceStreamAudioURL: t.SourceStreamAudioURL,
			ImageURL:             t.ImageURL,
			SourceImageURL:       t.SourceImageURL,
			Prompt:               t.Prompt,
			ModelName:            t.ModelName,
			Title:                t.Title,
			Tags:                 t.Tags,
			CreateTimeRaw:        t.CreateTime,
			Duration:             t.Duration,
			Extra:                t.Extra,
		}
		if ts, ok := parseCreateTime(t.CreateTime, b.loc); ok {
			// A time that leaves years 0-9999 in UTC has no RFC 3339
			// form; it stays in create_time_raw only.
			if utc := ts.UTC(); utc.Year() >= 0 && utc.Year() <= 9999 {
				tv.CreateTime = &utc
			}
		}
		d.Tracks = append(d.Tracks, tv)
	}
	return d
}

// Source is how the bridge learned of a stage: the bytes it came in
// (hashed into the bodysha256 attribute; a timeout has none), how (Origin;
// the provider's callback when empty) and the trace it was learned in.
type Source struct {
	Body []byte
	// Sum is Body's SHA-256 when the caller has it already (the callback
	// handler hashes for verification); zero, Build computes it.
	Sum    [sha256.Size]byte
	Origin event.Origin
	Trace  tracing.Context
}

// Build makes the CloudEvent of the stage cb reports. The id depends only
// on the family, task and stage, so a callback, a retry and a poll of the
// same stage are one event and whichever reaches the stream second is a
// duplicate; time is when this delivery was built. A timeout (Origin
// timeout; cb is the error the bridge declares) is published as the
// timeout stage.
func (b *Builder) Build(cb callback.Callback, src Source) (outbound.Message, error) {
	if src.Sum == ([sha256.Size]byte{}) {
		src.Sum = sha256.Sum256(src.Body)
	}
	if src.Origin == "" {
		src.Origin = event.OriginCallback
	}
	return b.build(src.Trace, cb, src.Sum, src.Origin)
}

func (b *Builder) build(tr tracing.Context, cb callback.Callback, bodySum [sha256.Size]byte, origin event.Origin) (outbound.Message, error) {
	t, ok := b.families[cb.Family]
	if !ok || !cb.Family.HasStage(cb.Stage) {
		return outbound.Message{}, fmt.Errorf("build: family %q has no stage %q", cb.Family, cb.Stage)
	}
	stage := cb.Stage
	if origin == event.OriginTimeout {
		if cb.Stage != event.StageError {
			return outbound.Message{}, fmt.Errorf("build: a timeout is an error, not %q", cb.Stage)
		}
		stage = event.StageTimeout
	}
	id := cb.Family.ID(cb.TaskID, stage)
	var (
		out []byte
		err error
	)
	sum, typ := hex.EncodeToString(bodySum[:]), cb.Family.Type(stage)
	if cb.Data != nil { // a family with its own data type
		out, err = encode(b, &envelope[any]{
			ID: id, Type: typ, Subject: cb.TaskID, DataSchema: t.dataSchema, Data: cb.Data, BodySHA256: sum, Origin: origin,
			TraceParent: tr.Parent, TraceState: tr.State,
		})
	} else {
		out, err = encode(b, &envelope[event.DataV1]{
			ID: id, Type: typ, Subject: cb.TaskID, DataSchema: t.dataSchema, Data: b.Data(cb), BodySHA256: sum, Origin: origin,
			TraceParent: tr.Parent, TraceState: tr.State,
		})
	}
	if err != nil {
		return outbound.Message{}, err
	}
	return outbound.Message{
		ID:      id,
		Family:  cb.Family,
		Subject: event.Subject(t.prefix, cb.TaskID, stage),
		Trace:   tr,
		Stage:   stage,
		TaskID:  cb.TaskID,
		Body:    out,
	}, nil
}

// envelope is a structured-mode CloudEvent, its attributes in the order
// sdk-go writes them (extensions last, sorted). Data is typed rather than
// any: the encoder then needs no interface lookup (a third of its time).
type envelope[T any] struct {
	SpecVersion     string       `json:"specversion"`
	ID              string       `json:"id"`
	Source          string       `json:"source"`
	Type            string       `json:"type"`
	Subject         string       `json:"subject"`
	DataContentType string       `json:"datacontenttype"`
	DataSchema      string       `json:"dataschema"`
	Time            time.Time    `json:"time"`
	Data            T            `json:"data"`
	BodySHA256      string       `json:"bodysha256,omitempty"`
	Origin          event.Origin `json:"origin,omitempty"`
	// The CloudEvents distributed-tracing extension.
	TraceParent string `json:"traceparent,omitempty"`
	TraceState  string `json:"tracestate,omitempty"`
}

// encodeOptions sort map keys and escape U+2028 and U+2029, as
// encoding/json (and so every event before this encoder) does. Names need
// no duplicate check: struct fields and map keys are unique already.
var encodeOptions = json.JoinOptions(json.Deterministic(true), jsontext.EscapeForJS(true), jsontext.AllowDuplicateNames(true))

// encode fills the attributes every event shares and writes e. Map keys
// (the extras) are sorted, so one callback always gives the same bytes.
func encode[T any](b *Builder, e *envelope[T]) ([]byte, error) {
	if !event.ValidTaskID(e.Subject) {
		return nil, fmt.Errorf("build: task id %q cannot be a subject", e.Subject)
	}
	e.SpecVersion, e.Source, e.DataContentType = "1.0", b.source, event.DataContentType
	e.Time = b.now().UTC()
	buf := bytes.NewBuffer(make([]byte, 0, 2048)) // a usual event fits
	if err := json.MarshalWrite(buf, e, encodeOptions); err != nil {
		return nil, fmt.Errorf("build: encoding the event: %w", err)
	}
	return buf.Bytes(), nil
}

// Submitted makes the com.sunoapi.<family>.submitted.v1 event for a task
// the bridge started tracking, on event.TaskSubject of the family's prefix.
// request is the request as forwarded (nil when the task was announced
// without one); its callBackUrl (calBackUrl for voice-regenerate) is
// dropped, since it may carry the callback token. tr is the trace of the
// submit request or announcement, carried as on every other event.
func (b *Builder) Submitted(tr tracing.Context, fam event.Family, taskID string, via event.Via, request stdjson.RawMessage) (outbound.Message, error) {
	t, ok := b.families[fam]
	if !ok {
		return outbound.Message{}, fmt.Errorf("build: unknown family %q", fam)
	}
	data := event.SubmittedV1{TaskID: taskID, Via: string(via)}
	if len(request) > 0 {
		var fields map[string]stdjson.RawMessage
		if err := json.Unmarshal(request, &fields); err != nil {
			return outbound.Message{}, fmt.Errorf("build: submitted request: %w", err)
		}
		delete(fields, "callBackUrl")
		delete(fields, "calBackUrl")
		data.Request = fields
	}
	return taskEvent(b, tr, fam, taskID, event.StageSubmitted, fam.SubmittedType(), t.submittedSchema, event.TaskSubject(t.prefix, taskID), data)
}

// taskEvent makes an event of a task that is not a provider stage
// (submitted, archived): its id from family, task and stage.
func taskEvent[T any](b *Builder, tr tracing.Context, fam event.Family, taskID string, stage event.Stage, typ, schema, subject string, data T) (outbound.Message, error) {
	id := fam.ID(taskID, stage)
	out, err := encode(b, &envelope[T]{
		ID: id, Type: typ, Subject: taskID, DataSchema: schema, Data: data, TraceParent: tr.Parent, TraceState: tr.State,
	})
	if err != nil {
		return outbound.Message{}, err
	}
	return outbound.Message{ID: id, Family: fam, Subject: subject, Trace: tr, Stage: stage, TaskID: taskID, Body: out}, nil
}

// Archived makes the com.sunoapi.<family>.archived.v1 event of a task
// whose media the archiver kept (or gave up), on <prefix>.<task_id>.archived,
// in the trace tr of the complete event.
func (b *Builder) Archived(tr tracing.Context, fam event.Family, taskID string, data event.ArchivedV1) (outbound.Message, error) {
	t, ok := b.families[fam]
	if !ok {
		return outbound.Message{}, fmt.Errorf("build: unknown family %q", fam)
	}
	return taskEvent(b, tr, fam, taskID, event.StageArchived, fam.ArchivedType(), t.archivedSchema, event.Subject(t.prefix, taskID, event.StageArchived), data)
}
