package main

import (
	"os"
	"strings"
	"testing"
)

// The comparison reads the committed report's interleaved medians and
// micro-benchmark, and says the same run is the same.
func TestCompareWithTheCommittedReport(t *testing.T) {
	raw, err := os.ReadFile("../../../../BENCHMARKS.md")
	if err != nil {
		t.Fatal(err)
	}
	r, ok := parseReport(string(raw))
	if !ok || r.decodeBuildNanos == 0 || len(r.bridge) != 4 || r.bridge[0] == 0 {
		t.Fatalf("read %+v from BENCHMARKS.md", r)
	}
	out := compare("../../../../BENCHMARKS.md", string(raw))
	if !strings.Contains(out, "| closed c=64 callbacks/s |") || !strings.Contains(out, "| 1.00 |") {
		t.Errorf("comparison of a report with itself:\n%s", out)
	}
}
