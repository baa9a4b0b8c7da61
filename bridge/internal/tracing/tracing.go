// Package tracing sets up OpenTelemetry for the bridge from the standard
// OTEL_* variables and names the spans and attributes the bridge emits.
//
// Nothing is exported unless OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; the W3C trace context is
// propagated either way, so an event carries the provider's traceparent
// even when the bridge records no spans of its own.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of every span the bridge starts.
const Name = "github.com/vocals-bridge/vocals-bridge"

// Attribute keys of the bridge's own (never bodies, signatures or tokens).
const (
	TaskID  = attribute.Key("vocals.task_id")
	Stage   = attribute.Key("vocals.stage")
	Family  = attribute.Key("vocals.family")
	Outcome = attribute.Key("vocals.outcome")
	Reason  = attribute.Key("vocals.reason")
)

// MessagingNATS is messaging.system for NATS, which semconv has no
// constant for.
var MessagingNATS = semconv.MessagingSystemKey.String("nats")

// tracer comes from the global provider once: a tracer taken before Setup
// delegates to the provider Setup installs.
var tracer = otel.Tracer(Name)

// Tracer is the bridge's tracer (a no-op one until Setup installs an
// exporting provider).
func Tracer() trace.Tracer { return tracer }

// active is set once Setup installed an exporting provider.
var active atomic.Bool

// Active reports whether spans are recorded and exported.
func Active() bool { return active.Load() }

// SampledTraceID is the id of the trace ctx is in when the bridge exports
// it (tracing is active and the trace sampled), for exemplars; "" else.
func SampledTraceID(ctx context.Context) string {
	if !active.Load() {
		return ""
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		return sc.TraceID().String()
	}
	return ""
}

// Start starts a span like Tracer().Start when tracing is active; when it
// is not, it returns ctx and its own (non-recording) span without
// allocating, so the callback path costs nothing with tracing off.
func Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !active.Load() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return tracer.Start(ctx, name, opts...)
}

// Propagator reads and writes trace context on HTTP requests: the W3C
// trace context and baggage unless OTEL_PROPAGATORS names others (Setup
// sets it, before anything is served).
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Requested reports whether the environment asks for spans to be
// exported: an OTLP endpoint is named, and neither OTEL_SDK_DISABLED=true
// nor OTEL_TRACES_EXPORTER=none says otherwise. Setup then installs the
// exporter, and Active turns true.
func Requested() bool {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") ||
		strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")) == "none" {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs the propagator (OTEL_PROPAGATORS: tracecontext, baggage,
// b3, b3multi, jaeger, xray, ottrace or none) and, when Requested, an OTLP
// exporter (OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf, the default, or
// grpc) behind a batching tracer provider whose sampler, resource and
// limits come from the OTEL_* variables; service.name defaults to
// vocals-bridge. The returned function flushes and stops it.
func Setup(ctx context.Context, version string) (shutdown func(context.Context) error, err error) {
	if names := os.Getenv("OTEL_PROPAGATORS"); names != "" {
		p, err := autoprop.TextMapPropagator(strings.Split(names, ",")...)
		if err != nil {
			return nil, fmt.Errorf("tracing: OTEL_PROPAGATORS: %w", err)
		}
		Propagator = p
	}
	otel.SetTextMapPropagator(Propagator)
	switch e := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); e {
	case "", "otlp", "none":
	default:
		return nil, errors.New("tracing: OTEL_TRACES_EXPORTER must be otlp or none, not " + e)
	}
	if !Requested() {
		return func(context.Context) error { return nil }, nil
	}
	var exp sdktrace.SpanExporter
	protocol := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch strings.TrimSpace(protocol) {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, errors.New("tracing: OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or grpc, not " + protocol)
	}
	if err != nil {
		return nil, err
	}
	res, err := resource.Merge(
		resource.NewSchemaless(semconv.ServiceName("vocals-bridge"), semconv.ServiceVersion(version)),
		resource.Environment(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	active.Store(true)
	return tp.Shutdown, nil
}

// Context is the W3C trace context of an event: traceparent and
// tracestate, as the CloudEvents distributed-tracing extension carries
// them. The zero Context is no trace.
type Context struct {
	Parent, State string
}

// From is the trace context of ctx's span (the caller's own when it
// records, else the remote one it continues), or none.
func From(ctx context.Context) Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return Context{}
	}
	var c propagation.MapCarrier = map[string]string{}
	propagation.TraceContext{}.Inject(ctx, c)
	return Context{Parent: c["traceparent"], State: boundState(c["tracestate"])}
}

// MaxState bounds the tracestate an event carries (in its body and as a
// header): the W3C rules let a platform drop list members, from the right,
// and ask every one to pass on at least 512 characters. Without a bound a
// 16 KB tracestate beside a large event outgrew max_payload and the
// callback was answered 503 on every retry.
const MaxState = 512

// boundState drops members from the end of s until it is at most MaxState
// long.
func boundState(s string) string {
	for len(s) > MaxState {
		i := strings.LastIndexByte(s, ',')
		if i < 0 {
			return ""
		}
		s = strings.TrimRight(s[:i], " \t")
	}
	return s
}

// Into returns ctx continuing the trace of c (unchanged when c is none).
func (c Context) Into(ctx context.Context) context.Context {
	if c.Parent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": c.Parent, "tracestate": c.State})
}

// End ends span, marking it failed with err when there is one.
func End(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
