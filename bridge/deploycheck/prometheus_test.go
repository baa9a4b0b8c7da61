package deploycheck

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// A real Prometheus (Debian's package; .ci/run installs it) loads the
// shipped scrape configuration and rules against a running bridge: the
// target must come up and every rule group load without error.
func TestRealPrometheus(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prometheus is not installed; .ci/run installs Debian's package")
		}
		t.Skip("prometheus not installed (apt-get install prometheus)")
	}
	bridge, err := runBridge()
	if err != nil {
		t.Fatal(err)
	}
	defer bridge.stop()

	// The shipped configuration, with the target and rules path of this run
	// and a short interval so the test does not wait 15 s.
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rules, _ := filepath.Abs(filepath.Join(chartDir, "files", "alerts.yml"))
	cfg["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"}
	cfg["rule_files"] = []string{rules}
	job := cfg["scrape_configs"].([]any)[0].(map[string]any)
	job["static_configs"] = []any{map[string]any{"targets": []string{bridge.admin}}}
	out, _ := yaml.Marshal(cfg)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, out, 0o600); err != nil {
		t.Fatal(err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promBin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()

	get := func(path string, v any) error {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	deadline := time.Now().Add(60 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		var targets struct {
			Data struct {
				ActiveTargets []struct {
					Health    string
					LastError string
					Labels    map[string]string
				}
			}
		}
		var rulesResp struct {
			Data struct {
				Groups []struct {
					Name  string
					Rules []struct {
						Name, Health, LastError string
					}
				}
			}
		}
		lastErr = get("/api/v1/targets", &targets)
		if lastErr == nil {
			lastErr = get("/api/v1/rules", &rulesResp)
		}
		if lastErr == nil {
			up := len(targets.Data.ActiveTargets) == 1 && targets.Data.ActiveTargets[0].Health == "up" &&
				targets.Data.ActiveTargets[0].Labels["job"] == "vocals-bridge"
			evaluated, bad := 0, []string{}
			for _, g := range rulesResp.Data.Groups {
				for _, r := range g.Rules {
					switch r.Health {
					case "ok":
						evaluated++
					case "err":
						bad = append(bad, r.Name+": "+r.LastError)
					}
				}
			}
			if len(bad) > 0 {
				t.Fatalf("rules failing in Prometheus: %v", bad)
			}
			if up && len(rulesResp.Data.Groups) == 2 && evaluated > 0 {
				t.Logf("target up, %d groups loaded, %d rules evaluated", len(rulesResp.Data.Groups), evaluated)
				return
			}
			lastErr = fmt.Errorf("targets %+v, %d groups, %d rules evaluated", targets.Data.ActiveTargets, len(rulesResp.Data.Groups), evaluated)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("Prometheus did not get the bridge up with the rules loaded: %v\n%s", lastErr, log.String())
}
