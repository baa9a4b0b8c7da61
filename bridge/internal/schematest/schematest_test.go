package schematest_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/schematest"
)

// The schemas must reject what the bridge must never publish; otherwise
// validating golden events proves nothing.
func TestSchemaRejectsBrokenEvents(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(schematest.RepoRoot(t), "bridge", "event", "testdata", "golden", "first.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := schematest.CheckEvent(t, raw); err != nil {
		t.Fatalf("golden event rejected: %v", err)
	}
	tests := map[string]func(ev, data, track map[string]any){
		"wrong type":                func(ev, _, _ map[string]any) { ev["type"] = "com.sunoapi.vocals.done.v1" },
		"id not a uuid":             func(ev, _, _ map[string]any) { ev["id"] = "abc" },
		"missing time":              func(ev, _, _ map[string]any) { delete(ev, "time") },
		"bad time":                  func(ev, _, _ map[string]any) { ev["time"] = "yesterday" },
		"subject with dot":          func(ev, _, _ map[string]any) { ev["subject"] = "a.b" },
		"spec version 0.3":          func(ev, _, _ map[string]any) { ev["specversion"] = "0.3" },
		"unknown stage":             func(_, data, _ map[string]any) { data["stage"] = "done" },
		"string code":               func(_, data, _ map[string]any) { data["code"] = "200" },
		"null tracks":               func(_, data, _ map[string]any) { data["tracks"] = nil },
		"missing msg":               func(_, data, _ map[string]any) { delete(data, "msg") },
		"string duration":           func(_, _, track map[string]any) { track["duration"] = "201.5" },
		"negative duration":         func(_, _, track map[string]any) { track["duration"] = -1 },
		"create_time garbage":       func(_, _, track map[string]any) { track["create_time"] = "2025-03-04 05:06:07" },
		"extension name upper-case": func(ev, _, _ map[string]any) { ev["bodySHA"] = "x" },
		"extension value object":    func(ev, _, _ map[string]any) { ev["ext"] = map[string]any{"a": 1} },
		"data and data_base64":      func(ev, _, _ map[string]any) { ev["data_base64"] = "Zm9v" },
		"body hash not hex":         func(ev, _, _ map[string]any) { ev["bodysha256"] = "xyz" },
		"missing track id":          func(_, _, track map[string]any) { delete(track, "id") },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			var ev map[string]any
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			data := ev["data"].(map[string]any)
			track := data["tracks"].([]any)[0].(map[string]any)
			mutate(ev, data, track)
			b, _ := json.Marshal(ev)
			if err := schematest.CheckEvent(t, b); err == nil {
				t.Errorf("schema accepted a broken event: %s", b)
			}
		})
	}
}
