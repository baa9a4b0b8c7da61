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
