package deploycheck

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

var (
	repoRoot = filepath.Join("..", "..")
	promql   = parser.NewParser(parser.Options{})
)

var (
	metricsOnce sync.Once
	metricNames map[string]bool
	metricsErr  error
)

// liveMetricNames builds the bridge, runs it on loopback with its embedded
// NATS, and returns every metric name its /metrics exposes, so that a rule
// or panel naming a renamed metric fails here.
func liveMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	metricsOnce.Do(func() { metricNames, metricsErr = scrapeBridge() })
	if metricsErr != nil {
		t.Fatal(metricsErr)
	}
	return metricNames
}

// bridgeProc is the bridge binary running on loopback with its embedded NATS.
type bridgeProc struct {
	admin, public string
	stop          func()
}

// runBridge builds and starts the bridge and sends it one good and one
// refused callback, as any running bridge has seen, so that labelled
// families (latencies, rejections) are exposed.
func runBridge() (*bridgeProc, error) {
	dir, err := os.MkdirTemp("", "deploycheck")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "vocals-bridge")
	build := exec.Command("go", "build", "-o", bin, "./bridge/cmd/vocals-bridge")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("building the bridge: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{
		"VOCALS_BRIDGE_HTTP_ADDR=127.0.0.1:0", "VOCALS_BRIDGE_ADMIN_ADDR=127.0.0.1:0",
		"VOCALS_BRIDGE_EMBEDDED_NATS_ADDR=", "VOCALS_BRIDGE_DATA_DIR=" + filepath.Join(dir, "data"),
		// Archiving on, so its labelled families are exposed too.
		"VOCALS_BRIDGE_ARCHIVE_ENABLED=true", "VOCALS_BRIDGE_ARCHIVE_ALLOWED_HOSTS=media.example",
	}
	stop := func() { cancel(); _ = cmd.Wait(); os.RemoveAll(dir) }
	stderr, err := cmd.StderrPipe()
	if err != nil {
		stop()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		stop()
		return nil, err
	}
	p := &bridgeProc{stop: stop}
	sc := bufio.NewScanner(stderr)
	for (p.admin == "" || p.public == "") && sc.Scan() {
		var line struct{ Msg, Listener, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
			if line.Listener == "admin" {
				p.admin = line.Addr
			} else {
				p.public = line.Addr
			}
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	if p.admin == "" || p.public == "" {
		stop()
		return nil, fmt.Errorf("bridge did not report its listener addresses")
	}
	for _, body := range []string{
		`{"code":200,"msg":"ok","data":{"callbackType":"text","task_id":"deploycheck","data":[]}}`,
		`{"code":200,`,
	} {
		for i := 0; i < 50; i++ { // the listener starts serving right after it is logged
			resp, err := http.Post("http://"+p.public+"/callbacks/vocals", "application/json", strings.NewReader(body))
			if err == nil {
				resp.Body.Close()
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return p, nil
}

func scrapeBridge() (map[string]bool, error) {
	p, err := runBridge()
	if err != nil {
		return nil, err
	}
	defer p.stop()
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		names[name] = true
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no metrics scraped")
	}
	return names, nil
}

// metricsIn returns the metric names an expression selects.
func metricsIn(t *testing.T, expr string) []string {
	t.Helper()
	node, err := promql.ParseExpr(expr)
	if err != nil {
		t.Fatalf("PromQL %q: %v", expr, err)
	}
	var names []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

// exists accepts the bridge's own metrics as exposed, and "up", which
// Prometheus adds to every target.
func exists(live map[string]bool, name string) bool {
	return live[name] || name == "up"
}

func TestAlertRules(t *testing.T) {
	path := filepath.Join(chartDir, "files", "alerts.yml")
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", path, errs)
	}
	live := liveMetricNames(t)
	recorded := map[string]bool{}
	alerts := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			} else {
				alerts[r.Alert] = true
				if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
					t.Errorf("%s lacks a severity or summary", r.Alert)
				}
			}
			for _, name := range metricsIn(t, r.Expr) {
				if !exists(live, name) && !recorded[name] {
					t.Errorf("rule %s%s uses %s, which the bridge does not expose", r.Alert, r.Record, name)
				}
			}
		}
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for a := range alerts {
		if !strings.Contains(string(readme), "#### "+a) {
			t.Errorf("README.md has no runbook section for %s", a)
		}
	}
	if len(alerts) < 6 {
		t.Errorf("only %d alerts", len(alerts))
	}
}

var grafanaVars = regexp.MustCompile(`\$__rate_interval|\$__interval|\$__range`)

func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "files", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	live := liveMetricNames(t)
	seen := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			expr := grafanaVars.ReplaceAllString(target.Expr, "5m")
			expr = strings.ReplaceAll(expr, "$instance", ".*")
			for _, name := range metricsIn(t, expr) {
				seen[name] = true
				if !exists(live, name) {
					t.Errorf("panel %q uses %s, which the bridge does not expose", p.Title, name)
				}
			}
		}
	}
	for _, want := range []string{
		"vocals_bridge_callbacks_received_total", "vocals_bridge_callbacks_rejected_total",
		"vocals_bridge_publish_duration_seconds_bucket", "vocals_bridge_spool_entries",
		"vocals_bridge_spool_oldest_age_seconds", "vocals_bridge_nats_connected",
		"vocals_bridge_archive_downloads_total", "vocals_bridge_archive_oldest_age_seconds",
	} {
		if !seen[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
}

// The alert rules' own unit tests (files/alerts_test.yml), with promtool
// from the prometheus package that CI installs.
func TestAlertRuleUnitTests(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian's prometheus package has it; CI installs it)")
	}
	cmd := exec.Command(promtool, "test", "rules", "alerts_test.yml")
	cmd.Dir = filepath.Join(chartDir, "files")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}
