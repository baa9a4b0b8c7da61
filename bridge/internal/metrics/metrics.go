// Package metrics defines the bridge's Prometheus metrics. They live on a
// registry passed in by the caller, never the global one.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/callback"
)

// Namespace prefixes every metric name.
const Namespace = "vocals_bridge"

// Outcomes of a callback (label "outcome" of CallbacksReceived).
const (
	OutcomePublished = "published"
	OutcomeDuplicate = "duplicate"
	OutcomeSpooled   = "spooled"
	OutcomeRejected  = "rejected"
	OutcomeFailed    = "failed"
)

// StageUnknown labels callbacks rejected before their stage was known.
const StageUnknown = "unknown"

// Metrics are the bridge's instruments.
type Metrics struct {
	CallbacksReceived *prometheus.CounterVec   // stage, outcome
	CallbacksRejected *prometheus.CounterVec   // reason
	PublishDuration   *prometheus.HistogramVec // outcome
	HTTPDuration      *prometheus.HistogramVec // listener, route, code
	NATSConnected     prometheus.Gauge
	BuildInfo         *prometheus.GaugeVec // version

	SpoolEntries     prometheus.Gauge
	SpoolBytes       prometheus.Gauge
	SpoolOldestAge   prometheus.Gauge
	SpoolDrained     prometheus.Counter
	SpoolDrainErrors *prometheus.CounterVec // reason
	SpoolDamaged     prometheus.Counter
	SpoolFull        prometheus.Counter

	DeadLetters *prometheus.CounterVec // outcome

	VerificationEnabled prometheus.Gauge
}

// New creates the metrics and registers them, with the Go and process
// collectors, on reg. version labels vocals_bridge_build_info.
func New(reg prometheus.Registerer, version string) *Metrics {
	m := &Metrics{
		CallbacksReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "callbacks", Name: "received_total",
			Help: "Callbacks received, by stage and outcome (published, duplicate, spooled, rejected, failed).",
		}, []string{"stage", "outcome"}),
		CallbacksRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "callbacks", Name: "rejected_total",
			Help: "Callbacks answered with a 4xx, by reason.",
		}, []string{"reason"}),
		PublishDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "publish", Name: "duration_seconds",
			Help:    "Time from publish to JetStream acknowledgement, by outcome (published, duplicate, failed).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "HTTP request duration, by listener (public, admin), route and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}, []string{"listener", "route", "code"}),
		NATSConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "nats", Name: "connected",
			Help: "1 while the bridge's NATS connection is up, else 0.",
		}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "build_info",
			Help: "Always 1; the version label says which build runs.",
		}, []string{"version"}),
		SpoolEntries: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "spool", Name: "entries",
			Help: "Events waiting in the local spool.",
		}),
		SpoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "spool", Name: "bytes",
			Help: "Bytes of events waiting in the local spool.",
		}),
		SpoolOldestAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "spool", Name: "oldest_age_seconds",
			Help: "Age of the oldest event waiting in the spool; 0 when empty.",
		}),
		SpoolDrained: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "spool", Name: "drained_total",
			Help: "Spooled events JetStream acknowledged (duplicates included).",
		}),
		SpoolDrainErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "spool", Name: "drain_errors_total",
			Help: "Failed drain attempts, by reason (unavailable, rejected, damaged).",
		}, []string{"reason"}),
		SpoolDamaged: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "spool", Name: "damaged_records_total",
			Help: "Unreadable spool records found at start-up and set aside.",
		}),
		SpoolFull: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "spool", Name: "full_total",
			Help: "Callbacks answered 503 because the stream was unavailable and the spool full.",
		}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "deadletter", Name: "messages_total",
			Help: "Refused callbacks sent to the dead-letter stream, by outcome (published, duplicate, failed, dropped).",
		}, []string{"outcome"}),
		VerificationEnabled: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "verification", Name: "enabled",
			Help: "1 when callbacks must carry a signature or token, 0 when any source is accepted.",
		}),
	}
	reg.MustRegister(
		m.CallbacksReceived, m.CallbacksRejected, m.PublishDuration,
		m.HTTPDuration, m.NATSConnected, m.BuildInfo,
		m.SpoolEntries, m.SpoolBytes, m.SpoolOldestAge, m.SpoolDrained, m.SpoolDrainErrors, m.SpoolDamaged, m.SpoolFull,
		m.DeadLetters, m.VerificationEnabled,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.BuildInfo.WithLabelValues(version).Set(1)
	// Export every stage/outcome series from the start, so rates and alerts
	// see a zero instead of a missing series.
	for _, st := range callback.Stages {
		for _, o := range []string{OutcomePublished, OutcomeDuplicate, OutcomeSpooled, OutcomeFailed} {
			m.CallbacksReceived.WithLabelValues(string(st), o)
		}
	}
	m.CallbacksReceived.WithLabelValues(StageUnknown, OutcomeRejected)
	for _, o := range []string{"published", "duplicate", "failed", "dropped"} {
		m.DeadLetters.WithLabelValues(o)
	}
	for _, r := range []string{"unavailable", "rejected", "damaged"} {
		m.SpoolDrainErrors.WithLabelValues(r)
	}
	return m
}
