package event

import (
	"embed"
	"io/fs"
)

//go:embed schemas/v1/*.json
var schemaFiles embed.FS

// Schemas holds the JSON Schemas of this package's types, laid out as the
// bridge serves them under /schemas (v1/data.schema.json,
// v1/event.schema.json). The repository's top-level schemas/ folder is the
// published copy; a test keeps the two identical.
func Schemas() fs.FS {
	sub, err := fs.Sub(schemaFiles, "schemas")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder exists
	}
	return sub
}
