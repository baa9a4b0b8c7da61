package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// Options configure Consume. Zero values take the documented defaults.
type Options struct {
	// Stream and SubjectPrefix must match the bridge's (VOCALS, vocals);
	// SubjectPrefix is add-vocals'. Prefixes names the other families'
	// when the bridge renamed them (its family_subject_prefixes).
	Stream        string
	SubjectPrefix string
	Prefixes      map[event.Family]string
	// Families to receive; add-vocals only when empty, as before there
	// were other families.
	Families []event.Family
	// Durable names the consumer; every replica of a service uses the
	// same name to share the work. Required.
	Durable string
	// Stages to receive, of those each family has; all when empty, the
	// bridge's timeout included.
	Stages []event.Stage
	// MaxDeliver bounds deliveries of one event (default 5); after that
	// JetStream stops redelivering it.
	MaxDeliver int
	// Backoff is the wait before each redelivery after a failed handler
	// (default 1s, 5s, 30s; the last repeats).
	Backoff []time.Duration
	// AckWait is how long a handler may take before the event is
	// redelivered (default 30s).
	AckWait time.Duration
}

func (o Options) withDefaults() (Options, error) {
	if o.Durable == "" {
		return o, errors.New("consumer: Options.Durable is required")
	}
	if o.Stream == "" {
		o.Stream = "VOCALS"
	}
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = "vocals"
	}
	if len(o.Families) == 0 {
		o.Families = []event.Family{event.FamilyVocals}
	}
	for _, f := range o.Families {
		if !f.Known() {
			return o, fmt.Errorf("consumer: %q is not a family", f)
		}
	}
	if len(o.Stages) == 0 {
		o.Stages = append(event.Stages(), event.StageTimeout)
	}
	if o.MaxDeliver == 0 {
		o.MaxDeliver = 5
	}
	if len(o.Backoff) == 0 {
		o.Backoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}
	}
	if o.AckWait == 0 {
		o.AckWait = 30 * time.Second
	}
	return o, nil
}

// Handler processes one event. Returning nil acknowledges it; an error
// naks it for redelivery after the backoff; an error made with Term
// terminates it (no redelivery), for events that can never succeed.
type Handler func(ctx context.Context, e Event) error

type termError struct{ err error }

func (t termError) Error() string { return "terminal: " + t.err.Error() }
func (t termError) Unwrap() error { return t.err }

// Term marks err as permanent: the event is not redelivered.
func Term(err error) error { return termError{err} }

// Ensure creates the durable consumer or updates it to opts, and returns it.
func Ensure(ctx context.Context, js jetstream.JetStream, opts Options) (jetstream.Consumer, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var filters []string
	for _, f := range opts.Families {
		prefix := opts.Prefixes[f]
		switch {
		case f == event.FamilyVocals:
			prefix = opts.SubjectPrefix
		case prefix == "":
			prefix = string(f)
		}
		for _, st := range opts.Stages {
			if f.Publishes(st) {
				filters = append(filters, prefix+".*."+string(st))
			}
		}
	}
	if len(filters) == 0 {
		return nil, errors.New("consumer: none of the families has any of the stages")
	}
	cfg := jetstream.ConsumerConfig{
		Durable:        opts.Durable,
		Description:    "vocals-bridge events",
		FilterSubjects: filters,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        opts.AckWait,
		MaxDeliver:     opts.MaxDeliver,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if len(filters) == 1 {
		cfg.FilterSubject, cfg.FilterSubjects = filters[0], nil
	}
	c, err := js.CreateOrUpdateConsumer(ctx, opts.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("consumer: %s on %s: %w", opts.Durable, opts.Stream, err)
	}
	return c, nil
}

// Consume runs h for every event of the chosen stages until ctx ends, one
// at a time. A message that is not a vocals-bridge event is terminated.
func Consume(ctx context.Context, js jetstream.JetStream, opts Options, h Handler) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	c, err := Ensure(ctx, js, opts)
	if err != nil {
		return err
	}
	cc, err := c.Consume(func(msg jetstream.Msg) {
		handle(ctx, msg, opts.Backoff, h)
	})
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}

func handle(ctx context.Context, msg jetstream.Msg, backoff []time.Duration, h Handler) {
	e, err := Decode(msg.Subject(), msg.Headers(), msg.Data())
	if err != nil {
		_ = msg.Term()
		return
	}
	ctx, span := startProcess(ctx, e)
	err = h(ctx, e)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	var term termError
	switch {
	case err == nil:
		_ = msg.Ack()
	case errors.As(err, &term):
		_ = msg.Term()
	default:
		n := 1
		if md, merr := msg.Metadata(); merr == nil {
			n = max(1, int(md.NumDelivered))
		}
		_ = msg.NakWithDelay(backoff[min(n, len(backoff))-1])
	}
}

// startProcess starts the consumer span of handling e: a child of the
// producer's context the event carries (the CloudEvents distributed
// tracing extension), and linked to it, so the handler's own spans join
// the trace. It uses the global tracer provider: the service's own.
func startProcess(ctx context.Context, e Event) (context.Context, trace.Span) {
	carrier := propagation.MapCarrier{}
	for _, k := range []string{"traceparent", "tracestate"} {
		if v, ok := e.CloudEvent.Extensions()[k].(string); ok {
			carrier[k] = v
		}
	}
	ctx = propagation.TraceContext{}.Extract(ctx, carrier)
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	ctx, span := otel.Tracer("github.com/vocals-bridge/vocals-bridge/bridge/consumer").Start(ctx, "process "+string(e.Family), opts...)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", e.Subject), attribute.String("messaging.message.id", e.CloudEvent.ID()),
			attribute.String("vocals.family", string(e.Family)), attribute.String("vocals.stage", string(e.Stage)),
			attribute.String("vocals.task_id", e.CloudEvent.Subject()))
	}
	return ctx, span
}
