package deploycheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// KubeVersion is the Kubernetes release the chart is rendered for and
// validated against (kubeconform's schemas are made from its OpenAPI
// document; make lint-deploy makes them).
const KubeVersion = "1.34.2"

// linter finds an ecosystem linter: the path in the environment variable
// env (make lint-deploy sets it), else name on PATH. Missing, the test is
// skipped on a developer's machine and fails in CI, where .ci/run
// provides every one.
func linter(t *testing.T, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (set %s or put it on PATH): CI must run it", name, env)
	}
	t.Skipf("%s is not installed (make lint-deploy or .ci/run provide it)", name)
	return ""
}

// The dashboard passes Grafana's own dashboard linter, strictly: every
// query on $__rate_interval, templated datasource, job and instance, and
// the dashboard read-only (provisioned from the chart, not edited).
func TestDashboardLinter(t *testing.T) {
	bin := linter(t, "DASHBOARD_LINTER", "dashboard-linter")
	out, err := exec.Command(bin, "lint", "--strict", filepath.Join(chartDir, "files", "dashboard.json")).CombinedOutput()
	if err != nil {
		t.Errorf("dashboard-linter: %v\n%s", err, out)
	}
}

// Every manifest the chart renders (hooks included) is valid for
// Kubernetes KubeVersion, strictly (no unknown field), for the default,
// Deployment and every-option values. ServiceMonitor and PrometheusRule
// have no schema in Kubernetes' document: decodeStrict checks them
// against the operator's Go types instead.
func TestKubeconform(t *testing.T) {
	bin := linter(t, "KUBECONFORM", "kubeconform")
	schemas := os.Getenv("VOCALS_K8S_SCHEMAS")
	if _, err := os.Stat(filepath.Join(schemas, "v"+KubeVersion+"-standalone-strict")); schemas == "" || err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no kubeconform schemas at VOCALS_K8S_SCHEMAS=%q: make lint-deploy makes them", schemas)
		}
		t.Skip("no kubeconform schemas (make lint-deploy makes them from the k8s.io/kubernetes module)")
	}
	location := filepath.Join(schemas, "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}", "{{ .ResourceKind }}{{ .KindSuffix }}.json")
	for _, values := range []string{"", "ci/all-values.yaml", "ci/deployment-values.yaml"} {
		t.Run("values "+values, func(t *testing.T) {
			docs, _ := render(t, values)
			var all []byte
			for _, d := range docs {
				all = append(append(append(all, "---\n"...), d...), '\n')
			}
			cmd := exec.Command(bin, "-strict", "-summary", "-kubernetes-version", KubeVersion,
				"-schema-location", location, "-skip", "ServiceMonitor,PrometheusRule", "-")
			cmd.Stdin = bytes.NewReader(all)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Invalid: 0, Errors: 0") {
				t.Errorf("kubeconform: %v\n%s", err, out)
			}
		})
	}
}
