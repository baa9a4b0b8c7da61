package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
)

// NewSubmit returns the submit listener's handler: the provider's submit
// path of each family, served by the proxy proxy() returns. proxy returns
// nil until tracking is set up (NATS may still be on its way), and the
// routes answer 503 meanwhile.
func NewSubmit(log *zap.Logger, m *metrics.Metrics, families []family.Family, proxy func() http.Handler) *echo.Echo {
	e := newEcho(log, m, "submit")
	serve := func(c echo.Context) error {
		p := proxy()
		if p == nil {
			c.Response().Header().Set("Retry-After", "5")
			return c.JSON(http.StatusServiceUnavailable, errorBody("tracking_not_ready", "task tracking is starting; retry shortly"))
		}
		req := c.Request()
		ctx := tracing.Propagator.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
		ctx, span := tracing.Start(ctx, "POST "+req.URL.Path, trace.WithSpanKind(trace.SpanKindServer))
		req = req.WithContext(ctx)
		c.SetRequest(req) // the duration's exemplar is this trace
		p.ServeHTTP(c.Response(), req)
		if span.IsRecording() {
			span.SetAttributes(semconv.HTTPRequestMethodPost, semconv.HTTPRoute(req.URL.Path),
				semconv.HTTPResponseStatusCode(c.Response().Status))
		}
		span.End()
		return nil
	}
	for _, f := range families {
		e.POST(f.Submit, serve)
	}
	return e
}
