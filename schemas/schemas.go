// Package schemas embeds the published JSON Schemas of the event contract
// (v1/*.json), so the bridge serves exactly the files of this folder.
//
// go generate ./... rewrites every generated file, in the order they
// depend on each other: the families' schemas (from the family table), the
// golden events (from the families' examples, checked against those
// schemas), the catalog's family sections (from both), and from the
// settings the README's settings table, config/vocals-bridge.yaml and the
// chart's values schema.
// The same tests without -update fail on a stale file.
package schemas

//go:generate go test ../bridge/event -count=1 -run TestFamilySchemas -update
//go:generate go test ../bridge/internal/cloudevent -count=1 -run Golden -update
//go:generate go test ../bridge/event -count=1 -run TestAsyncAPIFamilies -update
//go:generate go test ../bridge/internal/config -count=1 -run TestChartValuesSchema|TestSampleFile|TestReadmeSettingsTable -update

import "embed"

// FS holds v1/*.json as they are in the repository.
//
//go:embed v1/*.json
var FS embed.FS
