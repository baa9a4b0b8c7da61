package event

import (
	"io/fs"

	"github.com/vocals-bridge/vocals-bridge/schemas"
)

// SchemaIDBase is where the published schemas' $id values point: the
// repository's schemas/ folder. A bridge serving them under its own
// schema base URL rewrites it, so that the event's dataschema and the
// served schema's $id agree and relative $refs resolve to the bridge.
const SchemaIDBase = "https://github.com/vocals-bridge/vocals-bridge/raw/main/schemas"

// Schemas holds the JSON Schemas of this package's types, laid out as the
// bridge serves them under /schemas (v1/data.schema.json,
// v1/event.schema.json): the repository's schemas/ folder itself.
func Schemas() fs.FS { return schemas.FS }
