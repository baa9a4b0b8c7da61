package metrics_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
)

// Every vocals_bridge_* metric follows the naming rule, has help text and
// is listed in the README's metrics table.
func TestMetricsAreNamedAndDocumented(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	m.Families(event.Families())
	m.PublishDuration.WithLabelValues("published").Observe(0.001)
	m.HTTPDuration.WithLabelValues("public", "/callbacks/vocals", "200").Observe(0.001)
	m.CallbacksRejected.WithLabelValues("vocals", "malformed_json").Inc()
	m.ArchiveDownloads.WithLabelValues("archived").Inc()

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, f := range families {
		name := f.GetName()
		if !strings.HasPrefix(name, metrics.Namespace+"_") {
			continue
		}
		found++
		if f.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
		if !strings.Contains(string(readme), "| `"+name+"` |") {
			t.Errorf("README.md does not document %s", name)
		}
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if strings.Contains(l.GetName(), "task") {
					t.Errorf("%s has a task label: unbounded cardinality", name)
				}
			}
		}
	}
	if found != 31 {
		t.Errorf("found %d vocals_bridge metrics, want 31", found)
	}
}
