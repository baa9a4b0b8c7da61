package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the harness re-execute this test binary as its ceiling and
// naive servers, as it does its own binary.
func TestMain(m *testing.M) {
	if serveTarget(os.Args) {
		return
	}
	os.Exit(m.Run())
}

// A smoke run with tiny counts keeps the harness from rotting. It checks
// that every target answered and the report has every section; it makes no
// claim about speed.
func TestHarnessSmoke(t *testing.T) {
	if os.Getenv("VOCALS_BENCH_SMOKE") == "" {
		t.Skip("the harness smoke run takes minutes of both cores: make bench-smoke runs it (CI does, after make test)")
	}
	dir := t.TempDir()
	bins := map[string]string{
		"vocals-bridge": "../../../cmd/vocals-bridge",
		"nats-server":   "github.com/nats-io/nats-server/v2",
	}
	for name, pkg := range bins {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("building %s: %v\n%s", name, err, out)
		}
	}
	// The Watermill peer is a module of its own.
	peer := exec.Command("go", "build", "-o", filepath.Join(dir, "peer"), ".")
	peer.Dir = "../../peer"
	if out, err := peer.CombinedOutput(); err != nil {
		t.Fatalf("building the peer: %v\n%s", err, out)
	}
	report, err := run(options{
		bridge: filepath.Join(dir, "vocals-bridge"), natsServer: filepath.Join(dir, "nats-server"), peer: filepath.Join(dir, "peer"),
		quick: true, duration: 300e6, fill: 500,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Closed loop", "## Open loop", "## Broker ceiling", "## Disk ceiling", "## Ratios", "## Where the CPU goes", "## Interleaved", "## Against the targets", "## With a growing stream", "## R3 on a three-node cluster",
		"| http-ceiling |", "| naive |", "| peer |", "| bridge-external |", "| bridge-embedded |", "| bridge-external-archiving |"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, line := range strings.Split(report, "\n") {
		if strings.HasPrefix(line, "| bridge") || strings.HasPrefix(line, "| naive") || strings.HasPrefix(line, "| peer") || strings.HasPrefix(line, "| http") {
			cells := strings.Split(line, "|")
			if len(cells) > 3 && strings.TrimSpace(cells[3]) == "0" {
				t.Errorf("a target answered nothing: %s", line)
			}
		}
	}
	fmt.Println(report)
}
