package event_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/schematest"
)

// The rules of schemas/README.md, checked against the schemas as released:
// within v1 a property may be added (optional) but never removed; its type,
// format, pattern, enum and const never change; the required set never
// changes; an open object never closes.
func TestV1SchemasStayCompatible(t *testing.T) {
	root := schematest.RepoRoot(t)
	released, _ := filepath.Glob(filepath.Join("testdata", "released-v1", "*.json"))
	if len(released) < 4 {
		t.Fatalf("only %d released schemas", len(released))
	}
	for _, file := range released {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			released := readJSON(t, filepath.Join("testdata", "released-v1", name))
			current := readJSON(t, filepath.Join(root, "schemas", "v1", name))
			for _, problem := range compatible("", released, current) {
				t.Error(problem)
			}
		})
	}
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// compatible lists how cur breaks consumers written against old.
func compatible(path string, old, cur map[string]any) []string {
	var out []string
	for _, kw := range []string{"type", "format", "pattern", "enum", "const", "$ref"} {
		if !reflect.DeepEqual(old[kw], cur[kw]) {
			out = append(out, fmt.Sprintf("%s: %s changed from %v to %v", path, kw, old[kw], cur[kw]))
		}
	}
	if !reflect.DeepEqual(sorted(old["required"]), sorted(cur["required"])) {
		out = append(out, fmt.Sprintf("%s: required changed from %v to %v", path, old["required"], cur["required"]))
	}
	if cur["additionalProperties"] == false && old["additionalProperties"] != false {
		out = append(out, fmt.Sprintf("%s: became closed to new properties", path))
	}
	for _, group := range []string{"properties", "$defs"} {
		oldProps, _ := old[group].(map[string]any)
		curProps, _ := cur[group].(map[string]any)
		for name, ov := range oldProps {
			cv, ok := curProps[name].(map[string]any)
			if !ok {
				out = append(out, fmt.Sprintf("%s/%s/%s was removed", path, group, name))
				continue
			}
			out = append(out, compatible(path+"/"+group+"/"+name, ov.(map[string]any), cv)...)
		}
	}
	if oi, ok := old["items"].(map[string]any); ok {
		ci, _ := cur["items"].(map[string]any)
		out = append(out, compatible(path+"/items", oi, ci)...)
	}
	return out
}

func sorted(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	sort.Strings(out)
	return out
}

// The check must catch what it claims to.
func TestCompatibilityCheckCatchesBreaks(t *testing.T) {
	released := readJSON(t, filepath.Join("testdata", "released-v1", "data.schema.json"))
	breaks := map[string]func(s map[string]any){
		"property removed": func(s map[string]any) { delete(s["properties"].(map[string]any), "msg") },
		"type changed":     func(s map[string]any) { s["properties"].(map[string]any)["code"].(map[string]any)["type"] = "string" },
		"enum grew": func(s map[string]any) {
			s["properties"].(map[string]any)["stage"].(map[string]any)["enum"] = []any{"text", "x"}
		},
		"newly required": func(s map[string]any) { s["required"] = append(s["required"].([]any), "extra") },
		"track field gone": func(s map[string]any) {
			delete(s["$defs"].(map[string]any)["track"].(map[string]any)["properties"].(map[string]any), "title")
		},
		"closed": func(s map[string]any) { s["additionalProperties"] = false },
	}
	for name, mutate := range breaks {
		t.Run(name, func(t *testing.T) {
			cur := readJSON(t, filepath.Join("testdata", "released-v1", "data.schema.json"))
			mutate(cur)
			if len(compatible("", released, cur)) == 0 {
				t.Error("incompatible change not detected")
			}
		})
	}
	added := readJSON(t, filepath.Join("testdata", "released-v1", "data.schema.json"))
	added["properties"].(map[string]any)["new_optional"] = map[string]any{"type": "string"}
	if problems := compatible("", released, added); len(problems) != 0 {
		t.Errorf("adding an optional property was flagged: %v", problems)
	}
}
