package event_test

import (
	"io/fs"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

func fsRead(name string) ([]byte, error) { return fs.ReadFile(event.Schemas(), name) }
