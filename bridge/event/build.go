package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
)

// Message is a built event ready to publish: the structured-mode CloudEvent
// body and what the broker needs around it. A Message is immutable once
// built, so a retry or a spooled copy publishes exactly the same bytes.
type Message struct {
	ID      string // CloudEvent id and Nats-Msg-Id
	Subject string
	Stage   callback.Stage
	TaskID  string
	Body    []byte // application/cloudevents+json
}

// Builder turns decoded callbacks into Messages. It is safe for concurrent use.
type Builder struct {
	prefix string
	// The constant attributes, encoded once.
	sourceJSON, dataSchemaJSON, submittedSchemaJSON []byte
	loc                                             *time.Location
	now                                             func() time.Time
}

// NewBuilder returns a Builder publishing under subject prefix, with the
// given CloudEvents source, the schema base URL (dataschema is
// schemaBase + SchemaPath) and the zone the provider's createTime is in.
func NewBuilder(prefix, source, schemaBase string, loc *time.Location) *Builder {
	return &Builder{
		prefix:              prefix,
		sourceJSON:          jsonString(source),
		dataSchemaJSON:      jsonString(schemaBase + SchemaPath),
		submittedSchemaJSON: jsonString(schemaBase + SubmittedSchemaPath),
		loc:                 loc,
		now:                 time.Now,
	}
}

// WithClock returns a copy of b that stamps events with now(); for tests.
func (b *Builder) WithClock(now func() time.Time) *Builder {
	c := *b
	c.now = now
	return &c
}

// providerTimeLayouts are the createTime formats accepted, most likely first.
var providerTimeLayouts = []string{"2006-01-02 15:04:05", time.RFC3339Nano}

// parseCreateTime reads a createTime in one of providerTimeLayouts. The
// provider's own layout is read by hand, in half the time
// time.ParseInLocation takes, which showed in the load profile;
// TestParseCreateTimeMatchesTime holds the two equal.
func parseCreateTime(s string, loc *time.Location) (time.Time, bool) {
	if t, ok := parseProviderLayout(s, loc); ok {
		return t, true
	}
	for _, layout := range providerTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parseProviderLayout reads exactly "2006-01-02 15:04:05", with the range
// checks time.Parse makes; ok is false for anything else.
func parseProviderLayout(s string, loc *time.Location) (time.Time, bool) {
	if len(s) != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	num := func(from, to int) (int, bool) {
		n := 0
		for i := from; i < to; i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			n = n*10 + int(s[i]-'0')
		}
		return n, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 7)
	day, ok3 := num(8, 10)
	hour, ok4 := num(11, 13)
	minute, ok5 := num(14, 16)
	sec, ok6 := num(17, 19)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	// The last day of the month: day 0 of the next one.
	if day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, loc), true
}

// Data normalises a callback into the v1 data form.
func (b *Builder) Data(cb callback.Callback) DataV1 {
	d := DataV1{
		TaskID:        cb.TaskID,
		Stage:         string(cb.Stage),
		CallbackType:  cb.CallbackType,
		Code:          cb.Code,
		CodeReason:    CodeReason(cb.Code),
		Msg:           cb.Msg,
		Tracks:        make([]TrackV1, 0, len(cb.Tracks)),
		Extra:         cb.Extra,
		EnvelopeExtra: cb.EnvelopeExtra,
	}
	for _, t := range cb.Tracks {
		tv := TrackV1{
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

// BodyHashExtension is the CloudEvents extension attribute holding the hex
// SHA-256 of the callback body as received, so consumers can audit an event
// against the request it came from (the provider's signature does not
// cover the body).
const BodyHashExtension = "bodysha256"

// Build makes the CloudEvent for a callback decoded from body. The id
// depends only on the task and stage; time is when this delivery was built.
func (b *Builder) Build(cb callback.Callback, body []byte) (Message, error) {
	return b.BuildFrom(cb, body, OriginCallback)
}

// BuildHashed is Build for a caller that has already hashed the body
// (bodySum is its SHA-256), as the callback handler has for verification.
func (b *Builder) BuildHashed(cb callback.Callback, bodySum [sha256.Size]byte) (Message, error) {
	return b.build(cb, bodySum, OriginCallback)
}

// BuildFrom is Build for a stage learned another way: from a record-info
// answer (body is that answer) or a timeout (body is empty). The id is the
// same as the callback's would be, so whichever reaches the stream second
// is a duplicate.
func (b *Builder) BuildFrom(cb callback.Callback, body []byte, origin Origin) (Message, error) {
	return b.build(cb, sha256.Sum256(body), origin)
}

func (b *Builder) build(cb callback.Callback, bodySum [sha256.Size]byte, origin Origin) (Message, error) {
	id := ID(cb.TaskID, cb.Stage)
	data := b.Data(cb)
	out, err := b.encode(header{
		id: id, typ: Type(cb.Stage), subject: cb.TaskID, dataSchema: b.dataSchemaJSON,
		bodyHash: bodySum[:], origin: origin,
	}, func(buf []byte) ([]byte, error) { return appendData(buf, &data) })
	if err != nil {
		return Message{}, err
	}
	return Message{
		ID:      id,
		Subject: Subject(b.prefix, cb.TaskID, cb.Stage),
		Stage:   cb.Stage,
		TaskID:  cb.TaskID,
		Body:    out,
	}, nil
}

// header is what differs between events in the attributes.
type header struct {
	id, typ, subject string
	dataSchema       []byte // JSON string
	bodyHash         []byte // raw digest, written as hex; nil for none
	origin           Origin // "" for none
}

// encode writes the structured-mode event: the attributes in the order
// sdk-go's MarshalJSON uses (extensions last, sorted), then data. It is
// written by hand because sdk-go's event, its validation and its generic
// encoder were a tenth of the bridge's CPU under load; the golden tests
// hold the output byte for byte, and consumers read it with sdk-go.
func (b *Builder) encode(h header, data func([]byte) ([]byte, error)) ([]byte, error) {
	// Every attribute below is ASCII that needs no escaping (an id, a type,
	// a time, hex) except the subject, checked here, and the pre-encoded
	// source and dataschema.
	if !callback.ValidTaskID(h.subject) {
		return nil, fmt.Errorf("event: task id %q cannot be a subject", h.subject)
	}
	buf := make([]byte, 0, 1536)
	buf = append(buf, `{"specversion":"1.0","id":"`...)
	buf = append(buf, h.id...)
	buf = append(buf, `","source":`...)
	buf = append(buf, b.sourceJSON...)
	buf = append(buf, `,"type":"`...)
	buf = append(buf, h.typ...)
	buf = append(buf, `","subject":"`...)
	buf = append(buf, h.subject...)
	buf = append(buf, `","datacontenttype":"`+DataContentType+`","dataschema":`...)
	buf = append(buf, h.dataSchema...)
	buf = append(buf, `,"time":"`...)
	buf = b.now().UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","data":`...)
	buf, err := data(buf)
	if err != nil {
		return nil, fmt.Errorf("event: encoding data: %w", err)
	}
	if h.bodyHash != nil {
		buf = append(buf, `,"`+BodyHashExtension+`":"`...)
		buf = hex.AppendEncode(buf, h.bodyHash)
		buf = append(buf, '"')
	}
	if h.origin != "" {
		buf = append(buf, `,"`+OriginExtension+`":"`...)
		buf = append(buf, h.origin...)
		buf = append(buf, '"')
	}
	return append(buf, '}'), nil
}

// encodeJSON is the data writer for types without a hand-written encoder:
// encoding/json without HTML escaping, so that "<", ">" and "&" stay as
// they are instead of growing sixfold as \u003c.
func encodeJSON(v any) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) {
		buf := bytes.NewBuffer(b)
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
	}
}

// jsonString encodes s as a JSON string, as sdk-go writes a URI attribute:
// parsed and printed again, without HTML escaping.
func jsonString(s string) []byte {
	if u, err := url.Parse(s); err == nil {
		s = u.String()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Submitted makes the com.sunoapi.vocals.submitted.v1 event for a task the
// bridge started tracking, on TaskSubject. request is the add-vocals
// request as forwarded (nil when the task was announced without one); its
// callBackUrl is dropped, since it may carry the callback token.
func (b *Builder) Submitted(taskID string, via Via, request json.RawMessage) (Message, error) {
	data := SubmittedV1{TaskID: taskID, Via: string(via)}
	if len(request) > 0 {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(request, &fields); err != nil {
			return Message{}, fmt.Errorf("event: submitted request: %w", err)
		}
		delete(fields, "callBackUrl")
		data.Request = fields
	}
	id := ID(taskID, StageSubmitted)
	out, err := b.encode(header{id: id, typ: SubmittedType, subject: taskID, dataSchema: b.submittedSchemaJSON}, encodeJSON(data))
	if err != nil {
		return Message{}, err
	}
	return Message{
		ID: id, Subject: TaskSubject(b.prefix, taskID), Stage: StageSubmitted, TaskID: taskID, Body: out,
	}, nil
}
