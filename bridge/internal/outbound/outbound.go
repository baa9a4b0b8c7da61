// Package outbound is the event on its way out: a built CloudEvent and
// what the broker needs around it. The builder (cloudevent) makes one;
// deliver, publish and the spool carry it, without depending on the
// builder or on each other.
package outbound

import (
	"bytes"

	"github.com/go-json-experiment/json"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
)

// Message is a built event ready to publish: the structured-mode CloudEvent
// body and what the broker needs around it. A Message is immutable once
// built, so a retry or a spooled copy publishes exactly the same bytes.
type Message struct {
	ID      string // CloudEvent id and Nats-Msg-Id
	Family  event.Family
	Subject string
	// Trace is the event's traceparent and tracestate, also sent as NATS
	// headers; none when the callback came without one and the bridge
	// records no spans.
	Trace  tracing.Context
	Stage  event.Stage
	TaskID string
	Body   []byte // application/cloudevents+json
}

// TraceOf reads the trace context a structured event carries, as a
// spooled one is read back.
func TraceOf(body []byte) tracing.Context {
	var e struct {
		TraceParent string `json:"traceparent"`
		TraceState  string `json:"tracestate"`
	}
	if !bytes.Contains(body, []byte(`"traceparent"`)) || json.Unmarshal(body, &e) != nil {
		return tracing.Context{}
	}
	return tracing.Context{Parent: e.TraceParent, State: e.TraceState}
}
