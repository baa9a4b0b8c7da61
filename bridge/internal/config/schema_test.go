package config_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/config"
)

var update = flag.Bool("update", false, "rewrite the chart's values.schema.json config block from the settings (go generate ./... does)")

// chartSchema is the Helm chart's values schema, with which helm lint
// refuses a mistyped value or an unknown config key.
var chartSchema = filepath.Join("..", "..", "..", "charts", "vocals-bridge", "values.schema.json")

// configSchema is the schema of the chart's config block: every setting,
// typed as the bridge parses it, and nothing else.
func configSchema() map[string]any {
	props := map[string]any{}
	t := reflect.TypeOf(config.Config{})
	for i, s := range config.Settings() {
		var typ any
		switch ft := t.Field(i).Type; {
		case ft == reflect.TypeOf(time.Duration(0)):
			typ = map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$`}
		case ft.Kind() == reflect.Bool:
			typ = map[string]any{"type": "boolean"}
		case ft.Kind() == reflect.Int || ft.Kind() == reflect.Int64:
			typ = map[string]any{"type": "integer"}
		case ft.Kind() == reflect.Float64:
			typ = map[string]any{"type": "number"}
		default:
			typ = map[string]any{"type": "string"}
		}
		props[s.Key] = typ
	}
	return map[string]any{
		"type":                 "object",
		"description":          "The bridge's configuration file (config/vocals-bridge.yaml lists every key).",
		"additionalProperties": false,
		"properties":           props,
	}
}

func TestChartValuesSchemaKnowsEverySetting(t *testing.T) {
	raw, err := os.ReadFile(chartSchema)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", chartSchema, err)
	}
	props := doc["properties"].(map[string]any)
	want := configSchema()
	if *update {
		props["config"] = want
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(doc); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(chartSchema, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, _ := json.Marshal(props["config"])
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(got, wantJSON) {
		var keys []string
		for k := range want["properties"].(map[string]any) {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		t.Errorf("the chart's values schema does not list the settings %v as they are; run go test ./bridge/internal/config -run TestChartValuesSchema -update", keys)
	}
}
