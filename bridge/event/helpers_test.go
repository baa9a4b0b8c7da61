package event_test

import (
	"flag"
	"io/fs"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// update rewrites the generated files (the families' schemas, the
// catalog's family sections) instead of checking them; go generate ./...
// sets it.
var update = flag.Bool("update", false, "rewrite the generated schemas and catalog sections (go generate ./... does)")

func fsRead(name string) ([]byte, error) { return fs.ReadFile(event.Schemas(), name) }

func mustUTC(t testing.TB) *time.Location {
	t.Helper()
	return time.UTC
}
