package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
)

// SubmitTokenHeader carries submit_token on every submission.
const SubmitTokenHeader = "Vocals-Submit-Token"

// SubmitGuard says who may submit, since every submission spends the
// provider API key.
type SubmitGuard struct {
	// Token, when set, must come in SubmitTokenHeader: 401 otherwise.
	Token string
	// Rate is submissions per second per source address (the connection's
	// peer: no forwarding header is believed), bursts of twice that; more
	// are 429. 0: no limit.
	Rate float64
}

// NewSubmit returns the submit listener's handler: the provider's submit
// path of each family, served by the proxy proxy() returns, behind guard.
// proxy returns nil until tracking is set up (NATS may still be on its
// way), and the routes answer 503 meanwhile.
func NewSubmit(log *zap.Logger, m *metrics.Metrics, families []family.Family, guard SubmitGuard, proxy func() http.Handler) *echo.Echo {
	e := newEcho(log, m, "submit")
	e.IPExtractor = echo.ExtractIPDirect()
	if guard.Rate > 0 {
		// Before the token check, so guessing tokens is limited too.
		e.Use(middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
			Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
				Rate: rate.Limit(guard.Rate), Burst: max(1, int(2*guard.Rate)), ExpiresIn: 5 * time.Minute,
			}),
			DenyHandler: func(c echo.Context, _ string, _ error) error {
				c.Response().Header().Set("Retry-After", strconv.Itoa(max(1, int(1/guard.Rate))))
				return c.JSON(http.StatusTooManyRequests, errorBody("rate_limited", "too many submissions from this address; retry after Retry-After"))
			},
		}))
	}
	if guard.Token != "" {
		e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if subtle.ConstantTimeCompare([]byte(c.Request().Header.Get(SubmitTokenHeader)), []byte(guard.Token)) != 1 {
					return c.JSON(http.StatusUnauthorized, errorBody("submit_token", "missing or wrong "+SubmitTokenHeader+" header"))
				}
				return next(c)
			}
		})
	}
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
