// Package consumer is for services that consume vocals-bridge events: it
// decodes a NATS message in either CloudEvents content mode into a typed
// Event, and runs a durable JetStream consumer over chosen stages with
// explicit acknowledgement, bounded redelivery and backoff.
//
//	err := consumer.Consume(ctx, js, consumer.Options{
//		Durable: "mixer",
//		Stages:  []event.Stage{event.StageComplete},
//	}, func(ctx context.Context, e consumer.Event) error {
//		for _, t := range e.Data.Tracks { fmt.Println(t.AudioURL) }
//		return nil // ack; an error naks with backoff; consumer.Term(err) stops redelivery
//	})
package consumer

import (
	"encoding/json"
	"errors"
	"fmt"
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
	// Stage is parsed from the type; Data is the decoded v1 data.
	Stage event.Stage
	Data  event.DataV1
}

// Failure is the provider's failure report carried by an error event.
type Failure struct {
	Code   int
	Reason string // event.CodeReason of Code
	Msg    string
}

// Failure returns the failure an error-stage event reports.
func (e Event) Failure() (Failure, bool) {
	if e.Stage != event.StageError {
		return Failure{}, false
	}
	return Failure{Code: e.Data.Code, Reason: e.Data.CodeReason, Msg: e.Data.Msg}, true
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

func fromCloudEvent(subject string, e ce.Event) (Event, error) {
	stage, ok := strings.CutPrefix(e.Type(), event.TypePrefix)
	if !ok || !strings.HasSuffix(stage, "."+event.Version) {
		return Event{}, fmt.Errorf("consumer: %w: type %q", ErrNotVocalsEvent, e.Type())
	}
	out := Event{CloudEvent: e, Subject: subject, Stage: event.Stage(strings.TrimSuffix(stage, "."+event.Version))}
	if err := json.Unmarshal(e.Data(), &out.Data); err != nil {
		return Event{}, fmt.Errorf("consumer: %w: data: %w", ErrNotVocalsEvent, err)
	}
	if out.Data.Stage != string(out.Stage) {
		return Event{}, fmt.Errorf("consumer: %w: data stage %q under type %q", ErrNotVocalsEvent, out.Data.Stage, e.Type())
	}
	return out, nil
}
