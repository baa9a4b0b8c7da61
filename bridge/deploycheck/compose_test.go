package deploycheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
)

// The cluster profile adds three JetStream nodes that route to each other.
// chosenPassword is what a user puts in .env: .env.example leaves
// Grafana's admin password empty, so nobody runs with a shipped one.
var chosenPassword = cli.WithEnv([]string{"GRAFANA_ADMIN_PASSWORD=chosen-by-the-user"})

// Copied as it is, .env.example does not start Grafana: compose names the
// password to choose.
func TestComposeRefusesTheExamplePassword(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithEnvFiles(filepath.Join(root, ".env.example")), cli.WithDotEnv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opts.LoadProject(context.Background()); err == nil || !strings.Contains(err.Error(), "set GRAFANA_ADMIN_PASSWORD in .env") {
		t.Fatalf("loaded with the example's password: %v", err)
	}
}

func TestComposeClusterProfile(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithEnvFiles(filepath.Join(root, ".env.example")), cli.WithDotEnv, chosenPassword,
		cli.WithProfiles([]string{"cluster"}))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml --profile cluster: %v", err)
	}
	for _, name := range []string{"nats-1", "nats-2", "nats-3"} {
		svc, ok := project.Services[name]
		if !ok {
			t.Fatalf("profile cluster lacks %s", name)
		}
		if svc.Environment["NATS_NAME"] == nil || *svc.Environment["NATS_NAME"] != name || svc.HealthCheck == nil {
			t.Errorf("%s: NATS_NAME or healthcheck wrong", name)
		}
	}
	conf, err := os.ReadFile(filepath.Join(root, "config", "nats", "cluster.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nats-1", "nats-2", "nats-3"} {
		if !strings.Contains(string(conf), "nats://"+name+":6222") {
			t.Errorf("cluster.conf does not route to %s", name)
		}
	}
}

// The Compose file loads and validates with the Compose specification
// library, with the variables .env.example documents.
func TestComposeFile(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnvFiles(filepath.Join(root, ".env.example")),
		cli.WithDotEnv, chosenPassword,
	)
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	want := map[string]bool{"nats": true, "bridge": true, "prometheus": true, "grafana": true}
	for name, svc := range project.Services {
		delete(want, name)
		if svc.HealthCheck == nil || len(svc.HealthCheck.Test) == 0 {
			t.Errorf("%s has no healthcheck", name)
		}
		if svc.Build == nil {
			tag := svc.Image[strings.LastIndex(svc.Image, ":")+1:]
			if !strings.Contains(svc.Image, ":") || tag == "latest" || strings.Count(tag, ".") < 2 {
				t.Errorf("%s image %q is not pinned to a full version", name, svc.Image)
			}
		}
		for _, v := range svc.Volumes {
			if v.Type == "volume" && project.Volumes[v.Source].Name == "" {
				t.Errorf("%s mounts undeclared volume %s", name, v.Source)
			}
			if v.Type == "bind" && !v.ReadOnly {
				t.Errorf("%s bind-mounts %s writable", name, v.Source)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("services missing: %v", want)
	}
	bridge := project.Services["bridge"]
	if bridge.Environment["VOCALS_BRIDGE_NATS_URL"] == nil || *bridge.Environment["VOCALS_BRIDGE_NATS_URL"] != "nats://nats:4222" {
		t.Error("the bridge is not pointed at the nats service")
	}
	// Secrets come from the environment (.env), never from the file.
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(raw), "\n") {
		key, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		upper := strings.ToUpper(key)
		if ok && (strings.Contains(upper, "KEY") || strings.Contains(upper, "TOKEN") ||
			strings.Contains(upper, "PASSWORD") || strings.Contains(upper, "SECRET")) && !strings.Contains(val, "${") {
			t.Errorf("docker-compose.yml:%d: %s is written in the file, not taken from .env", i+1, key)
		}
	}
}
