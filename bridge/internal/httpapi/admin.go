package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
)

// ReadyFunc reports nil when the bridge can store events right now.
type ReadyFunc func(ctx context.Context) error

// AdminDeps are what the admin listener needs.
type AdminDeps struct {
	Log      *zap.Logger
	Metrics  *metrics.Metrics
	Gatherer prometheus.Gatherer
	Ready    ReadyFunc
}

// readyTimeout bounds one readiness check, below typical probe timeouts.
const readyTimeout = 2 * time.Second

// NewAdmin returns the admin listener's handler: /healthz (the process
// answers), /readyz (200 only when NATS is connected and the stream is
// usable, else 503) and /metrics.
func NewAdmin(d AdminDeps) *echo.Echo {
	e := newEcho(d.Log, d.Metrics, "admin")
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
		defer cancel()
		if err := d.Ready(ctx); err != nil {
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	})
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{})))
	return e
}
