// Package consumer is for services that consume vocals-bridge events: it
// decodes a NATS message in either CloudEvents content mode into a typed
// Event of its family, and runs a durable JetStream consumer over chosen
// families and stages with explicit acknowledgement, bounded redelivery
// and backoff.
//
//	err := consumer.Consume(ctx, js, consumer.Options{
//		Durable:  "mixer",
//		Families: []event.Family{event.FamilyVocals, event.FamilyGenerate},
//		Stages:   []event.Stage{event.StageComplete},
//	}, func(ctx context.Context, e consumer.Event) error {
//		for _, t := range e.Data.Tracks { fmt.Println(t.AudioURL) }
//		return nil // ack; an error naks with backoff; consumer.Term(err) stops redelivery
//	})
//
// A family without tracks has its own data type: DataOf[event.WavV1](e).
package consumer

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	ce "github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// Event is one decoded vocals-bridge event.
type Event struct {
	// CloudEvent holds every attribute (id, type, source, time, ...) and
	// the raw data.
	CloudEvent ce.Event
	// Subject is the NATS subject it arrived on.
	Subject string
	// Family and Stage are parsed from the type.
	Family event.Family
	Stage  event.Stage
	// Data is the decoded v1 data of a music family (event.Family.Tracks);
	// zero for the others.
	Data event.DataV1
	// Payload is the decoded v1 data of any family, as a value of its
	// type: event.DataV1, event.LyricsV1, event.WavV1, ...; event.ArchivedV1
	// for an archived event.
	Payload any
	common  event.Common
}

// Common is what e's data shares with every family's: task id, stage,
// callback type, code and message.
func (e Event) Common() event.Common { return e.common }

// DataOf returns e's data as T, and false when e's family has another
// data type.
func DataOf[T any](e Event) (T, bool) {
	d, ok := e.Payload.(T)
	return d, ok
}

// Failure is the failure an error event reports (the provider's), or a
// timeout event (the bridge's: code 408, msg "timeout: ...").
type Failure struct {
	Code   int
	Reason string // event.CodeReason of Code
	Msg    string
}

// Failure returns the failure an error or timeout event reports.
func (e Event) Failure() (Failure, bool) {
	if e.Stage != event.StageError && e.Stage != event.StageTimeout {
		return Failure{}, false
	}
	return Failure{Code: e.common.Code, Reason: e.common.CodeReason, Msg: e.common.Msg}, true
}

// Origin is how the bridge learned of the stage: event.OriginCallback,
// OriginPoll or OriginTimeout. Events from bridges that predate the
// attribute have none and count as callbacks.
func (e Event) Origin() event.Origin {
	if o, ok := e.CloudEvent.Extensions()[event.OriginExtension].(string); ok && o != "" {
		return event.Origin(o)
	}
	return event.OriginCallback
}

// ErrNotVocalsEvent is wrapped by Decode errors for messages that are not
// v1 vocals-bridge CloudEvents.
var ErrNotVocalsEvent = errors.New("not a vocals-bridge v1 event")

// ErrInconsistent (always with ErrNotVocalsEvent) is a message whose parts
// disagree: its subject names another task or stage than its data, its
// CloudEvents subject another task, or its task id is not one the bridge
// would accept. The bridge never publishes one; someone else did.
var ErrInconsistent = errors.New("subject, type and data disagree")

// Decode reads a message in structured mode (Content-Type
// application/cloudevents+json, the bridge's default) or binary mode (ce-*
// headers, data as the body) and decodes its v1 data.
func Decode(subject string, header nats.Header, data []byte) (Event, error) {
	var (
		e   ce.Event
		err error
	)
	switch {
	case strings.HasPrefix(header.Get("Content-Type"), "application/cloudevents"):
		e = ce.New()
		err = e.UnmarshalJSON(data)
	case headerValue(header, event.HeaderPrefix+"specversion") != "":
		e, err = event.FromBinary(header, data)
	default:
		e = ce.New()
		err = e.UnmarshalJSON(data) // structured without a content type
	}
	if err != nil {
		return Event{}, fmt.Errorf("consumer: %w: %w", ErrNotVocalsEvent, err)
	}
	return fromCloudEvent(subject, e)
}

func headerValue(h nats.Header, key string) string {
	for k, vs := range h {
		if strings.EqualFold(k, key) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// parseType splits com.sunoapi.<family>.<stage>.v1.
func parseType(typ string) (event.Family, event.Stage, bool) {
	rest, ok := strings.CutPrefix(typ, "com.sunoapi.")
	if !ok {
		return "", "", false
	}
	if rest, ok = strings.CutSuffix(rest, "."+event.Version); !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return "", "", false
	}
	f, st := event.Family(rest[:i]), event.Stage(rest[i+1:])
	return f, st, f.Known() && f.Publishes(st)
}

func fromCloudEvent(subject string, e ce.Event) (Event, error) {
	fam, stage, ok := parseType(e.Type())
	if !ok {
		return Event{}, fmt.Errorf("consumer: %w: type %q", ErrNotVocalsEvent, e.Type())
	}
	out := Event{CloudEvent: e, Subject: subject, Family: fam, Stage: stage}
	data := fam.NewData()
	if stage == event.StageArchived {
		data = new(event.ArchivedV1)
	}
	if err := json.Unmarshal(e.Data(), data); err != nil {
		return Event{}, fmt.Errorf("consumer: %w: data: %w", ErrNotVocalsEvent, err)
	}
	if err := json.Unmarshal(e.Data(), &out.common); err != nil {
		return Event{}, fmt.Errorf("consumer: %w: data: %w", ErrNotVocalsEvent, err)
	}
	out.Payload = reflect.ValueOf(data).Elem().Interface()
	if d, ok := data.(*event.DataV1); ok {
		out.Data = *d
	}
	if want := dataStage(out.Stage); stage != event.StageArchived && out.common.Stage != string(want) {
		return Event{}, fmt.Errorf("consumer: %w: data stage %q under type %q", ErrNotVocalsEvent, out.common.Stage, e.Type())
	}
	if err := consistent(subject, e.Subject(), out); err != nil {
		return Event{}, fmt.Errorf("consumer: %w: %w: %s", ErrNotVocalsEvent, ErrInconsistent, err.Error())
	}
	return out, nil
}

// dataStage is the stage in the data of an event of stage st: a timeout's
// data is the error the bridge declares.
func dataStage(st event.Stage) event.Stage {
	if st == event.StageTimeout {
		return event.StageError
	}
	return st
}

// consistent checks the task id as the bridge does, and that the NATS
// subject (<prefix>.<task id>.<stage>; the prefix may be renamed, so it is
// not checked) and the CloudEvents subject (when set; the bridge always
// sets it) name the data's task and stage.
// An empty NATS subject (an event not read from NATS) skips that part.
func consistent(natsSubject, ceSubject string, e Event) error {
	id := e.common.TaskID
	if !event.ValidTaskID(id) {
		return fmt.Errorf("task id %q is not 1-128 letters, digits, '_' or '-'", id)
	}
	if ceSubject != "" && ceSubject != id {
		return fmt.Errorf("CloudEvents subject %q, data task %q", ceSubject, id)
	}
	if natsSubject == "" {
		return nil
	}
	tokens := strings.Split(natsSubject, ".")
	if n := len(tokens); n < 3 || tokens[n-2] != id || tokens[n-1] != string(e.Stage) {
		return fmt.Errorf("NATS subject %q, data task %q at stage %s", natsSubject, id, e.Stage)
	}
	return nil
}
