package tracing_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
)

// An event carries at most MaxState of tracestate: members are dropped
// from the right, as the W3C rules allow, so a large incoming tracestate
// cannot push an event past the server's max_payload.
func TestFromBoundsTheTraceState(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	member := func(i int) string { return fmt.Sprintf("v%02d=%s", i, strings.Repeat("x", 250)) }
	var many []string
	for i := range 32 {
		many = append(many, member(i))
	}
	tests := map[string]struct {
		state, want string
	}{
		"small passes":        {"a=1,b=2", "a=1,b=2"},
		"two fit (509 bytes)": {member(0) + "," + member(1), member(0) + "," + member(1)},
		"32 long members":     {strings.Join(many, ","), member(0) + "," + member(1)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := propagation.TraceContext{}.Extract(context.Background(),
				propagation.MapCarrier{"traceparent": parent, "tracestate": tc.state})
			got := tracing.From(ctx)
			if got.Parent != parent || got.State != tc.want || len(got.State) > tracing.MaxState {
				t.Errorf("state %q (%d bytes), want %q", got.State, len(got.State), tc.want)
			}
		})
	}
}

// The standard OTEL_* switches are honoured: nothing is exported when the
// SDK is disabled or the exporter is none, and OTEL_PROPAGATORS chooses
// how trace context is read and written.
func TestSetupHonoursTheOTELVariables(t *testing.T) {
	tests := map[string]struct {
		env     map[string]string
		enabled bool
		fields  string // a header the propagator uses
		wantErr bool
	}{
		"endpoint":           {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, enabled: true, fields: "traceparent"},
		"sdk disabled":       {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"}, fields: "traceparent"},
		"exporter none":      {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"}, fields: "traceparent"},
		"b3 propagation":     {env: map[string]string{"OTEL_PROPAGATORS": "b3"}, fields: "b3"},
		"unknown propagator": {env: map[string]string{"OTEL_PROPAGATORS": "smoke-signals"}, wantErr: true},
		"unknown exporter":   {env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			saved := tracing.Propagator
			t.Cleanup(func() { tracing.Propagator = saved })
			for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_PROPAGATORS"} {
				t.Setenv(k, tc.env[k])
			}
			shutdown, err := tracing.Setup(context.Background(), "test")
			if tc.wantErr {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = shutdown(context.Background()) }()
			if tracing.Requested() != tc.enabled {
				t.Errorf("Requested() = %v, want %v", tracing.Requested(), tc.enabled)
			}
			if !strings.Contains(strings.Join(tracing.Propagator.Fields(), " "), tc.fields) {
				t.Errorf("propagator fields %v, want %s", tracing.Propagator.Fields(), tc.fields)
			}
		})
	}
}
