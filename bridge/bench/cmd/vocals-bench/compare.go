package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// readings are the figures of one report that a later run is compared
// with: the interleaved medians of naive and bridge-external, and the
// decode-and-build micro-benchmark.
type readings struct {
	naive, bridge    []float64 // callbacks/s, CPU ms/1k, p99 at each open-loop rate
	decodeBuildNanos float64
	written          string
}

// parseReport reads those figures from a BENCHMARKS.md; ok is false when
// it has no interleaved section.
func parseReport(text string) (readings, bool) {
	var r readings
	if i := strings.Index(text, "Written by `make bench`"); i >= 0 {
		r.written, _, _ = strings.Cut(text[i:], ",")
		r.written = strings.TrimPrefix(r.written, "Written by `make bench` (`bridge/bench/cmd/vocals-bench`) on ")
	}
	inter := strings.Index(text, "## Interleaved")
	if inter < 0 {
		return r, false
	}
	for _, line := range strings.Split(text[inter:], "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 8 {
			continue
		}
		// | target | callbacks/s | CPU | broker CPU | / naive | p99 | / naive | p99 | / naive |
		var nums []float64
		for _, i := range []int{2, 3, 6, 8} {
			if i < len(cells) {
				v, _ := strconv.ParseFloat(strings.TrimSpace(cells[i]), 64)
				nums = append(nums, v)
			}
		}
		switch strings.TrimSpace(cells[1]) {
		case "naive":
			if r.naive == nil {
				r.naive = nums
			}
		case "bridge-external":
			if r.bridge == nil {
				r.bridge = nums
			}
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "BenchmarkDecodeBuild/complete.json") {
			f := strings.Fields(line)
			for i := 1; i+1 < len(f); i++ {
				if f[i+1] == "ns/op" {
					r.decodeBuildNanos, _ = strconv.ParseFloat(f[i], 64)
				}
			}
		}
	}
	return r, r.naive != nil && r.bridge != nil
}

// compare renders this run against the one before, each bridge figure as
// a ratio to that run's naive bridge, so that the machine's drift between
// the runs cancels out.
func compare(beforeFile, now string) string {
	raw, err := os.ReadFile(beforeFile)
	if err != nil {
		return ""
	}
	before, ok1 := parseReport(string(raw))
	after, ok2 := parseReport(now)
	if !ok1 || !ok2 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Against the previous report (%s)\n\n", before.written)
	b.WriteString("The interleaved medians of bridge-external, each as a ratio to that run's naive bridge (so the machine's drift between runs cancels), then this run's ratio over the previous one's. ")
	b.WriteString("For throughput higher is better; for CPU and p99 lower is.\n\n")
	b.WriteString("| figure | previous / naive | this run / naive | this / previous |\n| --- | ---: | ---: | ---: |\n")
	for i, name := range []string{"closed c=64 callbacks/s", "CPU ms per 1,000", "p99 at 2000/s", "p99 at 5000/s"} {
		if i >= len(before.bridge) || i >= len(after.bridge) || before.naive[i] == 0 || after.naive[i] == 0 {
			continue
		}
		pb, pa := before.bridge[i]/before.naive[i], after.bridge[i]/after.naive[i]
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %.2f |\n", name, pb, pa, pa/pb)
	}
	if before.decodeBuildNanos > 0 && after.decodeBuildNanos > 0 {
		fmt.Fprintf(&b, "| BenchmarkDecodeBuild complete.json, ns/op | %.0f | %.0f | %.2f |\n",
			before.decodeBuildNanos, after.decodeBuildNanos, after.decodeBuildNanos/before.decodeBuildNanos)
	}
	return b.String()
}
