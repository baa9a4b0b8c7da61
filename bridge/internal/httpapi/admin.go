package httpapi

import (
	"context"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
)

// Readiness states.
const (
	Ready       = "ready"       // JetStream is connected, the stream answers, everything enabled serves
	Degraded    = "degraded"    // callbacks are accepted durably, but not all is well: JetStream is away (spooling) or tracking is starting
	Unavailable = "unavailable" // callbacks would be answered 503
)

// Readiness is the answer of a ReadyFunc.
type Readiness struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// ReadyFunc reports whether the bridge can accept callbacks right now.
type ReadyFunc func(ctx context.Context) Readiness

// AdminDeps are what the admin listener needs.
type AdminDeps struct {
	Log      *zap.Logger
	Metrics  *metrics.Metrics
	Gatherer prometheus.Gatherer
	Ready    ReadyFunc
	// Pprof serves /debug/pprof/ (CPU and heap profiles) when true.
	Pprof bool
	// API serves /api/ (a task's story, dead letters, redrive) when set.
	API *AdminAPI
}

// readyTimeout bounds one readiness check, below typical probe timeouts.
const readyTimeout = 2 * time.Second

// NewAdmin returns the admin listener's handler: /healthz (the process
// answers), /readyz and /metrics. /readyz answers 200 while callbacks are
// accepted durably, "ready" or "degraded" (spooling), and 503 "unavailable"
// otherwise.
func NewAdmin(d AdminDeps) *echo.Echo {
	e := newEcho(d.Log, d.Metrics, "admin")
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
		defer cancel()
		r := d.Ready(ctx)
		if r.Status == Unavailable {
			return c.JSON(http.StatusServiceUnavailable, r)
		}
		return c.JSON(http.StatusOK, r)
	})
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{EnableOpenMetrics: true})))
	if d.API != nil {
		d.API.routes(e)
	}
	if d.Pprof {
		e.GET("/debug/pprof/*", echo.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
			case "profile":
				pprof.Profile(w, r)
			case "trace":
				pprof.Trace(w, r)
			case "symbol":
				pprof.Symbol(w, r)
			case "cmdline":
				pprof.Cmdline(w, r)
			default:
				pprof.Index(w, r)
			}
		})))
	}
	return e
}
