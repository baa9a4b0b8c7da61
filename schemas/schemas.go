// Package schemas embeds the published JSON Schemas of the event contract
// (v1/*.json), so the bridge serves exactly the files of this folder.
package schemas

import "embed"

// FS holds v1/*.json as they are in the repository.
//
//go:embed v1/*.json
var FS embed.FS
