package deploycheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// The Dockerfile parses, and holds to what the image promises: multi-stage,
// static build with the version injected, non-root, exec-form entrypoint,
// both ports, a data volume, no HEALTHCHECK.
func TestDockerfile(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	var (
		froms      []string
		user       string
		exposed    []string
		volume     bool
		entrypoint *parser.Node
		runs       []string
	)
	for _, n := range res.AST.Children {
		var args []string
		for a := n.Next; a != nil; a = a.Next {
			args = append(args, a.Value)
		}
		switch strings.ToLower(n.Value) {
		case "from":
			froms = append(froms, strings.Join(args, " "))
		case "user":
			user = args[0]
		case "expose":
			exposed = append(exposed, args...)
		case "volume":
			volume = true
		case "entrypoint":
			entrypoint = n
		case "run":
			runs = append(runs, strings.Join(args, " "))
		case "healthcheck":
			t.Error("the image must not carry a HEALTHCHECK; orchestrators probe /healthz and /readyz")
		}
	}
	if len(froms) < 2 {
		t.Errorf("not multi-stage: %v", froms)
	}
	if user != "65532:65532" && user != "65532" {
		t.Errorf("USER %q, want 65532", user)
	}
	if strings.Join(exposed, " ") != "8080 8081" {
		t.Errorf("EXPOSE %v", exposed)
	}
	if !volume {
		t.Error("no VOLUME for the spool and the embedded store")
	}
	if entrypoint == nil || !entrypoint.Attributes["json"] {
		t.Error("ENTRYPOINT is not in exec form")
	}
	build := strings.Join(runs, "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-X main.version=${VERSION}", "./bridge/cmd/vocals-bridge"} {
		if !strings.Contains(build, want) {
			t.Errorf("the build does not use %s", want)
		}
	}
}
