// Package metrics defines the bridge's Prometheus metrics. They live on a
// registry passed in by the caller, never the global one.
package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tracing"
)

// Observe records v in o with the trace of ctx as its exemplar
// (trace_id) when the bridge exports that trace, so that a slow bucket
// leads to a trace; OpenMetrics scrapes show it.
func Observe(ctx context.Context, o prometheus.Observer, v float64) {
	if id := tracing.SampledTraceID(ctx); id != "" {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": id})
			return
		}
	}
	o.Observe(v)
}

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
	CallbacksReceived *prometheus.CounterVec   // family, stage, outcome
	CallbacksRejected *prometheus.CounterVec   // family, reason
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

	TrackingTasks      prometheus.Gauge
	TrackingStuck      prometheus.Gauge
	TrackingStarted    *prometheus.CounterVec // via
	TrackingStages     *prometheus.CounterVec // origin
	TrackingPolls      *prometheus.CounterVec // result
	TrackingPollErrors *prometheus.CounterVec // reason
	TrackingEnded      *prometheus.CounterVec // how
	TrackingFailed     prometheus.Counter
	TrackingClaimsLost prometheus.Counter

	reg prometheus.Registerer
}

// Families starts the callback series of each family at zero, so rates
// exist before the first callback; a family that is off has none.
func (m *Metrics) Families(families []event.Family) {
	for _, f := range families {
		for _, st := range f.Stages() {
			for _, o := range []string{OutcomePublished, OutcomeDuplicate, OutcomeSpooled, OutcomeFailed} {
				m.CallbacksReceived.WithLabelValues(string(f), string(st), o)
			}
		}
		m.CallbacksReceived.WithLabelValues(string(f), StageUnknown, OutcomeRejected)
	}
}

// WatchDeadLetterQueue exports queued(), the dead letters waiting for the
// stream, as vocals_bridge_deadletter_queued.
func (m *Metrics) WatchDeadLetterQueue(queued func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "deadletter", Name: "queued",
		Help: "Dead letters waiting in memory for the dead-letter stream (it was unreachable).",
	}, queued))
}

// New creates the metrics and registers them, with the Go and process
// collectors, on reg. version labels vocals_bridge_build_info.
func New(reg prometheus.Registerer, version string) *Metrics {
	m := &Metrics{
		reg: reg,
		CallbacksReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "callbacks", Name: "received_total",
			Help: "Callbacks received, by family, stage and outcome (published, duplicate, spooled, rejected, failed).",
		}, []string{"family", "stage", "outcome"}),
		CallbacksRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "callbacks", Name: "rejected_total",
			Help: "Callbacks answered with a 4xx, by family and reason.",
		}, []string{"family", "reason"}),
		PublishDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "publish", Name: "duration_seconds",
			Help:    "Time from publish to JetStream acknowledgement, by outcome (published, duplicate, failed).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "HTTP request duration, by listener (public, admin, submit), route and status code.",
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
		TrackingTasks: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "tracking", Name: "tasks",
			Help: "Tasks tracked until a terminal stage (every replica reports the whole bucket).",
		}),
		TrackingStuck: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "tracking", Name: "stuck_tasks",
			Help: "Tracked tasks older than tracking_stuck_after without a terminal stage.",
		}),
		TrackingStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "tracking", Name: "started_total",
			Help: "Tasks this replica started tracking, by how it learned of them (proxy, announce).",
		}, []string{"via"}),
		TrackingStages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "tracking", Name: "stages_total",
			Help: "Stages of tracked tasks newly stored by this replica, by origin (callback, poll, timeout).",
		}, []string{"origin"}),
		TrackingPolls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "tracking", Name: "polls_total",
			Help: "Answered record-info polls, by result (stage, pending).",
		}, []string{"result"}),
		TrackingPollErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "tracking", Name: "poll_errors_total",
			Help: "Failed polls, by reason (rate_limited, unauthorized, not_found, server_error, transport, refused, deliver).",
		}, []string{"reason"}),
		TrackingEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "tracking", Name: "ended_total",
			Help: "Tasks no longer tracked, by how (callback, terminal poll, stream, timeout, disabled: the family was turned off).",
		}, []string{"how"}),
		TrackingClaimsLost: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "tracking", Name: "claims_lost_total",
			Help: "Polls another replica claimed first (compare-and-set on the task's revision).",
		}),
		TrackingFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "tracking", Name: "track_failures_total",
			Help: "Tasks the provider created through the submit proxy that the bridge could not track.",
		}),
	}
	reg.MustRegister(
		m.CallbacksReceived, m.CallbacksRejected, m.PublishDuration,
		m.HTTPDuration, m.NATSConnected, m.BuildInfo,
		m.SpoolEntries, m.SpoolBytes, m.SpoolOldestAge, m.SpoolDrained, m.SpoolDrainErrors, m.SpoolDamaged, m.SpoolFull,
		m.DeadLetters, m.VerificationEnabled,
		m.TrackingTasks, m.TrackingStuck, m.TrackingStarted, m.TrackingStages, m.TrackingPolls,
		m.TrackingPollErrors, m.TrackingEnded, m.TrackingFailed, m.TrackingClaimsLost,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.BuildInfo.WithLabelValues(version).Set(1)
	// Export every stage/outcome series from the start, so rates and alerts
	// see a zero instead of a missing series.
	for _, o := range []string{"published", "duplicate", "failed", "dropped"} {
		m.DeadLetters.WithLabelValues(o)
	}
	for _, r := range []string{"unavailable", "rejected", "no_stream", "damaged", "unreadable"} {
		m.SpoolDrainErrors.WithLabelValues(r)
	}
	for _, v := range []string{"proxy", "announce"} {
		m.TrackingStarted.WithLabelValues(v)
	}
	for _, o := range []string{"callback", "poll", "timeout"} {
		m.TrackingStages.WithLabelValues(o)
	}
	for _, r := range []string{"stage", "pending"} {
		m.TrackingPolls.WithLabelValues(r)
	}
	for _, r := range []string{"rate_limited", "unauthorized", "not_found", "server_error", "transport", "refused", "deliver"} {
		m.TrackingPollErrors.WithLabelValues(r)
	}
	for _, h := range []string{"callback", "terminal", "stream", "timeout", "disabled"} {
		m.TrackingEnded.WithLabelValues(h)
	}
	return m
}
