// Package metrics defines the bridge's Prometheus metrics. They live on a
// registry passed in by the caller, never the global one.
package metrics

import (
	"context"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"

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
	JournalEntries   prometheus.Gauge

	DeadLetters *prometheus.CounterVec // outcome
	Redrives    *prometheus.CounterVec // outcome

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

	ArchiveDownloads *prometheus.CounterVec // outcome
	ArchiveBytes     prometheus.Counter
	ArchiveEvents    prometheus.Counter
	ArchivePending   prometheus.Gauge
	ArchiveOldestAge prometheus.Gauge

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
	f := promauto.With(reg)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(sub, name, help string) prometheus.Counter {
		return f.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: sub, Name: name, Help: help})
	}
	gauge := func(sub, name, help string) prometheus.Gauge {
		return f.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: sub, Name: name, Help: help})
	}
	// by is a counter with one label, each of whose values is exported from
	// the start so rates and alerts see a zero instead of a missing
	// series; its help lists them.
	by := func(sub, name, help, label string, values ...string) *prometheus.CounterVec {
		v := f.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: sub, Name: name,
			Help: fmt.Sprintf("%s, by %s (%s).", help, label, strings.Join(values, ", "))}, []string{label})
		for _, x := range values {
			v.WithLabelValues(x)
		}
		return v
	}
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &Metrics{
		reg: reg,
		CallbacksReceived: f.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "callbacks", Name: "received_total",
			Help: "Callbacks received, by family, stage and outcome (published, duplicate, spooled, rejected, failed).",
		}, []string{"family", "stage", "outcome"}),
		CallbacksRejected: f.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "callbacks", Name: "rejected_total",
			Help: "Callbacks answered with a 4xx, by family and reason.",
		}, []string{"family", "reason"}),
		PublishDuration: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "publish", Name: "duration_seconds",
			Help: "Time from publish to JetStream acknowledgement, by outcome (published, duplicate, failed).", Buckets: buckets,
		}, []string{"outcome"}),
		HTTPDuration: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help: "HTTP request duration, by listener (public, admin, submit), route and status code.", Buckets: append(buckets, 15),
		}, []string{"listener", "route", "code"}),
		NATSConnected: gauge("nats", "connected", "1 while the bridge's NATS connection is up, else 0."),
		BuildInfo: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info",
			Help: "Always 1; the version label says which build runs."}, []string{"version"}),

		SpoolEntries:     gauge("spool", "entries", "Events waiting in the local spool."),
		SpoolBytes:       gauge("spool", "bytes", "Bytes of events waiting in the local spool."),
		SpoolOldestAge:   gauge("spool", "oldest_age_seconds", "Age of the oldest event waiting in the spool; 0 when empty."),
		SpoolDrained:     counter("spool", "drained_total", "Spooled events JetStream acknowledged (duplicates included)."),
		SpoolDrainErrors: by("spool", "drain_errors_total", "Failed drain attempts", "reason", "unavailable", "rejected", "no_stream", "damaged", "unreadable"),
		SpoolDamaged:     counter("spool", "damaged_records_total", "Unreadable spool records found at start-up and set aside."),
		SpoolFull:        counter("spool", "full_total", "Callbacks answered 503 because the stream was unavailable and the spool full."),
		JournalEntries:   gauge("journal", "entries", "Events in the embedded mode's journal: answered, and kept until the embedded server has fsynced them (about 3 s of callbacks)."),

		DeadLetters: by("deadletter", "messages_total", "Refused callbacks sent to the dead-letter stream", "outcome", "published", "duplicate", "failed", "dropped"),
		Redrives: by("deadletter", "redrives_total", "Dead letters run through the pipeline again", "outcome",
			"published", "duplicate", "spooled", "already_redriven", "refused", "not_redrivable", "failed"),
		VerificationEnabled: gauge("verification", "enabled", "1 when callbacks must carry a signature or token, 0 when any source is accepted."),

		TrackingTasks:      gauge("tracking", "tasks", "Tasks tracked until a terminal stage (every replica reports the whole bucket)."),
		TrackingStuck:      gauge("tracking", "stuck_tasks", "Tracked tasks older than tracking_stuck_after without a terminal stage."),
		TrackingStarted:    by("tracking", "started_total", "Tasks this replica started tracking", "via", "proxy", "announce"),
		TrackingStages:     by("tracking", "stages_total", "Stages of tracked tasks newly stored by this replica", "origin", "callback", "poll", "timeout"),
		TrackingPolls:      by("tracking", "polls_total", "Answered record-info polls", "result", "stage", "pending"),
		TrackingPollErrors: by("tracking", "poll_errors_total", "Failed polls", "reason", "rate_limited", "unauthorized", "not_found", "server_error", "transport", "refused", "deliver"),
		// disabled: the family was turned off.
		TrackingEnded:      by("tracking", "ended_total", "Tasks no longer tracked", "how", "callback", "terminal", "stream", "timeout", "disabled"),
		TrackingClaimsLost: counter("tracking", "claims_lost_total", "Polls another replica claimed first (compare-and-set on the task's revision)."),
		TrackingFailed:     counter("tracking", "track_failures_total", "Tasks the provider created through the submit proxy that the bridge could not track."),

		// The archiver starts each outcome's series (archive.Outcomes).
		ArchiveDownloads: f.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "archive", Name: "downloads_total",
			Help: "Media files the archiver handled, by outcome: archived (stored now), existing (stored before), retried (failed, tried again later), or the reason the file was given up (as in the archived event).",
		}, []string{"outcome"}),
		ArchiveBytes:     counter("archive", "bytes_total", "Bytes of media stored in the Object Store."),
		ArchiveEvents:    counter("archive", "events_total", "Archived events published (duplicates included)."),
		ArchivePending:   gauge("archive", "pending_events", "Complete events whose media is not archived yet (the archiver's consumer: undelivered and unacknowledged)."),
		ArchiveOldestAge: gauge("archive", "oldest_age_seconds", "Age of the oldest complete event whose media is not archived yet; 0 when none."),
	}
	m.BuildInfo.WithLabelValues(version).Set(1)
	return m
}
