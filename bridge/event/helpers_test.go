package event_test

import (
	"io/fs"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

func fsRead(name string) ([]byte, error) { return fs.ReadFile(event.Schemas(), name) }

func mustUTC(t testing.TB) *time.Location {
	t.Helper()
	return time.UTC
}
