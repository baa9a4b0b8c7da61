package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/provider"
)

// NewSubmit returns the submit listener's handler: the provider's
// add-vocals path, served by the proxy proxy() returns. proxy returns nil
// until tracking is set up (NATS may still be on its way), and the route
// answers 503 meanwhile.
func NewSubmit(log *zap.Logger, m *metrics.Metrics, proxy func() http.Handler) *echo.Echo {
	e := newEcho(log, m, "submit")
	e.POST(provider.SubmitPath, func(c echo.Context) error {
		p := proxy()
		if p == nil {
			c.Response().Header().Set("Retry-After", "5")
			return c.JSON(http.StatusServiceUnavailable, errorBody("tracking_not_ready", "task tracking is starting; retry shortly"))
		}
		p.ServeHTTP(c.Response(), c.Request())
		return nil
	})
	return e
}
