package main

import (
	"fmt"
	"maps"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"

	"github.com/vocals-bridge/vocals-bridge/bridge/bench/load"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/sunosim"
)

// interleavedRun is one target's measurements across the interleaved rounds.
type interleavedRun struct {
	name             string
	concurrency      int
	closed, cpuPer1k []float64 // callbacks/s and CPU ms per 1,000, closed loop
	brokerPer1k      []float64 // the separate broker's CPU ms per 1,000; empty without one
	p99              map[int][]float64
}

// interleaved runs naive, the peer (when o.peer names it) and the bridges
// side by side and takes turns between them, round after round, so a slow
// phase of the shared machine hits all of them instead of whichever ran
// then. Medians go in the report.
func interleaved(o options, self, natsURL string, natsPid int, startBridge func(string, ...string) (*target, error)) ([]interleavedRun, error) {
	rounds, c, rates := 3, 64, []int{2000, 5000}
	if o.quick {
		rounds, c, rates = 1, 4, []int{200}
	}
	addr := freeAddr()
	naive, err := startProcess("naive", "http://"+addr+"/callbacks/vocals", exec.Command(self, "serve-naive", addr, natsURL))
	if err != nil {
		return nil, err
	}
	defer naive.stop()
	ext, err := startBridge("bridge-external-interleaved", "VOCALS_BRIDGE_NATS_URL="+natsURL)
	if err != nil {
		return nil, err
	}
	defer ext.stop()
	naive.broker, ext.broker = natsPid, natsPid
	emb, err := startBridge("bridge-embedded-interleaved", "VOCALS_BRIDGE_EMBEDDED_NATS_ADDR="+freeAddr())
	if err != nil {
		return nil, err
	}
	defer emb.stop()
	targets := []*target{naive, ext, emb}
	if o.peer != "" {
		addr := freeAddr()
		peer, err := startProcess("peer", "http://"+addr+"/callbacks/vocals", exec.Command(o.peer, addr, natsURL, "peer"))
		if err != nil {
			return nil, err
		}
		defer peer.stop()
		peer.broker = natsPid
		targets = append(targets, peer)
	}
	// The bridge as configured by default (no signature key, so no
	// signature checks; Info logging): what the peer is held to, and, beside
	// bridge-external, what signature checks cost.
	defaults, err := startBridge("bridge-external-defaults-interleaved", "VOCALS_BRIDGE_NATS_URL="+natsURL,
		"VOCALS_BRIDGE_WEBHOOK_HMAC_KEY=")
	if err != nil {
		return nil, err
	}
	defer defaults.stop()
	defaults.broker = natsPid
	// What tracing costs when on: the external bridge exporting every
	// span (the default sampler samples every new trace) over OTLP/HTTP to
	// a sink that discards them.
	sink := otlpSink()
	defer sink.Close()
	traced, err := startBridge("bridge-external-traced-interleaved", "VOCALS_BRIDGE_NATS_URL="+natsURL,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+sink.Addr().String())
	if err != nil {
		return nil, err
	}
	defer traced.stop()
	traced.broker = natsPid
	// Archiving on, as configured by default, with every callback naming an
	// audio file and a cover image a media server in the harness serves. It
	// has a stream (add-vocals only) and a consumer of its own, so the
	// other bridges' broker does no work for the archiver.
	media := httptest.NewServer(sunosim.New(sunosim.Options{APIKey: "unused"}))
	defer media.Close()
	var others []string
	for _, f := range event.Families()[1:] {
		others = append(others, string(f))
	}
	archiving, err := startBridge("bridge-external-archiving-interleaved", "VOCALS_BRIDGE_NATS_URL="+natsURL,
		"VOCALS_BRIDGE_STREAM=ARCHIVING", "VOCALS_BRIDGE_SUBJECT_PREFIX=archiving", "VOCALS_BRIDGE_DISABLED_FAMILIES="+strings.Join(others, ","),
		"VOCALS_BRIDGE_DEADLETTER_STREAM=ARCHIVING_DLQ", "VOCALS_BRIDGE_DEADLETTER_SUBJECT_PREFIX=archiving_dlq",
		"VOCALS_BRIDGE_ARCHIVE_ENABLED=true", "VOCALS_BRIDGE_ARCHIVE_ALLOWED_HOSTS=127.0.0.1")
	if err != nil {
		return nil, err
	}
	defer archiving.stop()
	archiving.broker, archiving.request = natsPid, callbackWithMedia(media.URL)
	targets = append(targets, defaults, traced, archiving)
	runs := make([]interleavedRun, len(targets))
	for i, t := range targets {
		runs[i] = interleavedRun{name: strings.TrimSuffix(t.name, "-interleaved"), concurrency: c, p99: map[int][]float64{}}
	}
	for round := range rounds {
		for i, t := range targets {
			m := measure(t, "closed", func() load.Result {
				return load.Closed(t.url, c, o.duration, t.requests(fmt.Sprintf("I%d%dc", round, i)))
			})
			runs[i].closed = append(runs[i].closed, m.res.Throughput())
			runs[i].cpuPer1k = append(runs[i].cpuPer1k, msf(m.cpuPer1k))
			if m.brokerPer1k >= 0 {
				runs[i].brokerPer1k = append(runs[i].brokerPer1k, msf(m.brokerPer1k))
			}
		}
		for _, r := range rates {
			for i, t := range targets {
				res := load.Open(t.url, r, o.duration, 4096, t.requests(fmt.Sprintf("I%d%do%d", round, i, r)))
				runs[i].p99[r] = append(runs[i].p99[r], msf(res.Percentile(99)))
			}
		}
	}
	return runs, nil
}

// runOf is the interleaved run of the named target, if it ran.
func runOf(inter []interleavedRun, name string) (interleavedRun, bool) {
	i := slices.IndexFunc(inter, func(r interleavedRun) bool { return r.name == name })
	if i < 0 {
		return interleavedRun{}, false
	}
	return inter[i], true
}

// renderInterleaved is the table of the interleaved runs, each target's
// medians with its ratios to the naive bridge and, when it ran, the peer.
func renderInterleaved(inter []interleavedRun) string {
	if len(inter) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Interleaved: naive, the peer and the bridges taking turns (%d rounds, medians)\n\n", len(inter[0].closed))
	b.WriteString("The runs above measure one target after another; a slow phase of the shared machine lands on whichever runs then. " +
		"Here the targets run side by side and take turns, round after round, which makes these ratios the steadier ones. " +
		"**peer** is the bridge a user would assemble from Watermill (`bridge/bench/peer`: watermill-http's subscriber answering after the handler, " +
		"watermill-nats' JetStream publisher with the message id from task and stage; no signature check, no envelope, no spool, no metrics, no logging). " +
		"**bridge-external-defaults** is the external bridge as configured by default: no signature key, so no signature checks (the other bridges here check every signature), Info logging; the difference to bridge-external is what signature checks cost. " +
		"**bridge-external-traced** is the external bridge with tracing on (OTLP/HTTP to a sink in the harness that discards the spans; the default sampler keeps every trace): the difference is what tracing costs. " +
		"**bridge-external-archiving** is the external bridge with archiving on as configured by default (4 tasks at once, at most 10 downloads/s), each callback naming an audio file and a cover image that a media server in the harness serves, on a stream of its own with the archiver's consumer: the difference is what archiving costs the callback path (the archiver works behind it, at its own pace).\n\n")
	naive := inter[0]
	peer, hasPeer := runOf(inter, "peer")
	rates := slices.Sorted(maps.Keys(naive.p99))
	fmt.Fprintf(&b, "| target | closed c=%d callbacks/s | CPU ms / 1k | broker CPU ms / 1k | / naive | / peer |", naive.concurrency)
	for _, r := range rates {
		fmt.Fprintf(&b, " p99 ms at %d/s | / naive |", r)
	}
	b.WriteString("\n| --- | ---: | ---: | ---: | ---: | ---: |" + strings.Repeat(" ---: | ---: |", len(rates)) + "\n")
	for _, run := range inter {
		broker := "-"
		if len(run.brokerPer1k) > 0 {
			broker = fmt.Sprintf("%.0f", median(run.brokerPer1k))
		}
		perPeer := "-"
		if hasPeer {
			perPeer = ratio(median(run.closed), median(peer.closed))
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %s | %s | %s |", run.name, median(run.closed), median(run.cpuPer1k), broker,
			ratio(median(run.closed), median(naive.closed)), perPeer)
		for _, r := range rates {
			fmt.Fprintf(&b, " %.2f | %s |", median(run.p99[r]), ratio(median(run.p99[r]), median(naive.p99[r])))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// renderTargets holds this run to the figures the project has set itself
// (issue "The durable default at the disk's limit"), from the interleaved
// medians and the open-loop runs. It reports; it does not fail the run.
func renderTargets(inter []interleavedRun, results []measurement) string {
	ext, okE := runOf(inter, "bridge-external")
	emb, okM := runOf(inter, "bridge-embedded")
	naive, okN := runOf(inter, "naive")
	if !okE || !okM || !okN {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Against the targets (interleaved medians, closed c=%d where no rate is named)\n\n", ext.concurrency)
	b.WriteString("| figure | this run | target | met |\n| --- | ---: | --- | --- |\n")
	row := func(figure string, v float64, target string, met bool) {
		verdict := map[bool]string{true: "yes", false: "**no**"}[met]
		if target == "-" {
			verdict = "-"
		}
		fmt.Fprintf(&b, "| %s | %.2f | %s | %s |\n", figure, v, target, verdict)
	}
	embExt := median(emb.closed) / median(ext.closed)
	row("bridge-embedded / bridge-external, callbacks/s", embExt, "≥ 0.70", embExt >= 0.7)
	rates := slices.Sorted(maps.Keys(ext.p99))
	if len(rates) > 0 {
		r := rates[0]
		p := median(emb.p99[r]) / median(ext.p99[r])
		row(fmt.Sprintf("bridge-embedded p99 / bridge-external p99, %d/s open loop", r), p, "≤ 2.00", p <= 2)
	}
	for _, m := range results {
		if m.target == "bridge-embedded" && m.scenario == "open 5000/s" {
			row("bridge-embedded errors, 5000/s open loop", float64(m.res.Errors), "0", m.res.Errors == 0)
		}
	}
	// The peer is held to the bridge with its default features: the
	// defaults run, when there is one.
	def, ok := runOf(inter, "bridge-external-defaults")
	if !ok {
		def = ext
	}
	defNaive := median(def.closed) / median(naive.closed)
	row(def.name+" / naive, callbacks/s", defNaive, "≥ 0.90", defNaive >= 0.9)
	if peer, ok := runOf(inter, "peer"); ok {
		defPeer := median(def.closed) / median(peer.closed)
		row(def.name+" / peer, callbacks/s", defPeer, "≥ 1.00", defPeer >= 1)
		row("bridge-external (signature checks on) / peer, callbacks/s", median(ext.closed)/median(peer.closed), "-", false)
		row("bridge-embedded / peer, callbacks/s (its broker's CPU is its own)", median(emb.closed)/median(peer.closed), "-", false)
	}
	return b.String()
}
