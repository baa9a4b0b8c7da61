package family

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// ExampleTaskID is the task id in every example body; Example.For puts
// another in its place.
const ExampleTaskID = "2fac4d1b9e0a4c8fb1d2e3f4a5b69f72"

//go:embed examples
var exampleFiles embed.FS

// Example is one documented callback body of a family, in one provider's
// spelling. Files are examples/<family>/<spelling>-<stage>[-<variant>].json,
// spelling s or k: the two main providers' documentation (examples/README.md).
type Example struct {
	Family   event.Family
	Name     string // the file name without .json
	Spelling string // "s" or "k"
	Stage    event.Stage
	Body     []byte
}

// For returns the body with taskID in place of ExampleTaskID.
func (e Example) For(taskID string) []byte {
	return bytes.ReplaceAll(e.Body, []byte(ExampleTaskID), []byte(taskID))
}

// Examples returns f's examples, sorted by name.
func (f Family) Examples() []Example {
	dir := path.Join("examples", string(f.Name))
	entries, err := fs.ReadDir(exampleFiles, dir)
	if err != nil {
		return nil
	}
	var out []Example
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".json")
		parts := strings.SplitN(name, "-", 3)
		if len(parts) < 2 {
			panic(fmt.Sprintf("family: example %s/%s is not <spelling>-<stage>[-<variant>].json", f.Name, e.Name()))
		}
		body, err := fs.ReadFile(exampleFiles, path.Join(dir, e.Name()))
		if err != nil {
			panic(err) // embedded: cannot fail
		}
		out = append(out, Example{Family: f.Name, Name: name, Spelling: parts[0], Stage: event.Stage(parts[1]), Body: body})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Example returns f's example for spelling and stage (the first variant
// when there are several), and false when there is none.
func (f Family) Example(spelling string, stage event.Stage) (Example, bool) {
	for _, e := range f.Examples() {
		if e.Spelling == spelling && e.Stage == stage {
			return e, true
		}
	}
	return Example{}, false
}
