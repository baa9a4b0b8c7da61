package event_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/schematest"
)

// Every family but add-vocals has an event schema made from add-vocals'
// (its type, dataschema and data changed), and the music and voice
// families whose data is another family's type have a data schema that
// refers to it. They are generated, so the families stay alike: run
// go test ./bridge/event -run TestFamilySchemas -update.
func TestFamilySchemas(t *testing.T) {
	root := schematest.RepoRoot(t)
	base := readJSON(t, filepath.Join(root, "schemas", "v1", "event.schema.json"))
	submitted := readJSON(t, filepath.Join(root, "schemas", "v1", "submitted-event.schema.json"))
	archived := readJSON(t, filepath.Join(root, "schemas", "v1", "archived-event.schema.json"))
	for _, f := range event.Families() {
		files := map[string]map[string]any{filepath.Base(f.TimeoutEventSchemaPath()): timeoutSchema(base, f)}
		if f != event.FamilyVocals {
			files[filepath.Base(f.EventSchemaPath())] = familyEventSchema(base, f)
			files[string(f)+".submitted-event.schema.json"] = familySubmittedSchema(submitted, f)
			if f.Archives() {
				files[filepath.Base(f.ArchivedEventSchemaPath())] = familyArchivedSchema(archived, f)
			}
		}
		if data := familyDataSchema(f); data != nil && f != event.FamilyVocals {
			files[filepath.Base(f.DataSchemaPath())] = data
		}
		for name, doc := range files {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(doc); err != nil {
				t.Fatal(err)
			}
			out := buf.Bytes()
			path := filepath.Join(root, "schemas", "v1", name)
			if *update {
				if err := os.WriteFile(path, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			have, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(have, out) {
				t.Errorf("%s is not what the family table makes (%v); run go test ./bridge/event -run TestFamilySchemas -update", path, err)
			}
		}
	}
}

func familyEventSchema(base map[string]any, f event.Family) map[string]any {
	var doc map[string]any
	raw, _ := json.Marshal(base)
	_ = json.Unmarshal(raw, &doc) // a deep copy
	name := filepath.Base(f.EventSchemaPath())
	doc["$id"] = schematest.ID(name)
	doc["title"] = fmt.Sprintf("vocals-bridge %s CloudEvent, v1, structured JSON mode", f)
	doc["description"] = fmt.Sprintf("The body of every message the bridge publishes for the %s family on <prefix>.<task_id>.<stage> (the prefix defaults to %s; Content-Type application/cloudevents+json).", f, f)
	props := doc["properties"].(map[string]any)
	props["id"].(map[string]any)["description"] = fmt.Sprintf("UUIDv5 of \"%s/<task_id>/<stage>\": the same for every delivery of a stage; also the Nats-Msg-Id.", f)
	var types []any
	for _, st := range f.Stages() {
		types = append(types, f.Type(st))
	}
	props["type"].(map[string]any)["enum"] = types
	props["dataschema"].(map[string]any)["pattern"] = regexp.QuoteMeta(f.DataSchemaPath()) + "$"
	props["data"] = map[string]any{"$ref": filepath.Base(f.DataSchemaPath())}
	return doc
}

// timeoutSchema is the schema of f's timeout event: f's event schema with
// the timeout type and origin; its data is f's (an error).
func timeoutSchema(base map[string]any, f event.Family) map[string]any {
	doc := base
	if f != event.FamilyVocals {
		doc = familyEventSchema(base, f)
	}
	var c map[string]any
	raw, _ := json.Marshal(doc)
	_ = json.Unmarshal(raw, &c)
	c["$id"] = schematest.ID(filepath.Base(f.TimeoutEventSchemaPath()))
	c["title"] = fmt.Sprintf("vocals-bridge %s timeout CloudEvent, v1, structured JSON mode", f)
	c["description"] = fmt.Sprintf("The body of the message the bridge publishes on <prefix>.<task_id>.timeout when a tracked %s task reached no terminal stage before its tracking deadline (the prefix defaults to %s). Its data is an error: stage error, code 408, a msg starting \"timeout:\". The provider's own error, if it comes later, is still published on <prefix>.<task_id>.error.", f, f)
	if f == event.FamilyVocals {
		c["description"] = strings.Replace(c["description"].(string), "defaults to vocals", "is subject_prefix, vocals by default", 1)
	}
	props := c["properties"].(map[string]any)
	props["id"].(map[string]any)["description"] = fmt.Sprintf("UUIDv5 of \"%s<task_id>/timeout\": the same however often the timeout is published; also the Nats-Msg-Id.", map[bool]string{true: "", false: string(f) + "/"}[f == event.FamilyVocals])
	props["type"] = map[string]any{"const": f.Type(event.StageTimeout)}
	props["origin"] = map[string]any{"description": "Extension attribute: always timeout.", "const": string(event.OriginTimeout)}
	c["required"] = append(c["required"].([]any), "origin")
	return c
}

func familySubmittedSchema(base map[string]any, f event.Family) map[string]any {
	return familyTaskSchema(base, f, string(f)+".submitted-event.schema.json", "submitted",
		fmt.Sprintf("on <prefix>_tasks.<task_id>.submitted when it starts tracking a %s task", f), "the task is announced", f.SubmittedType())
}

func familyArchivedSchema(base map[string]any, f event.Family) map[string]any {
	return familyTaskSchema(base, f, filepath.Base(f.ArchivedEventSchemaPath()), "archived",
		fmt.Sprintf("on <prefix>.<task_id>.archived when it has archived the media of a %s task's complete event", f), "the task is archived", f.ArchivedType())
}

// familyTaskSchema is add-vocals' schema of an event that is not a
// provider stage (base) made f's: its file, title, description, id and
// type.
func familyTaskSchema(base map[string]any, f event.Family, file, what, when, often, typ string) map[string]any {
	var doc map[string]any
	raw, _ := json.Marshal(base)
	_ = json.Unmarshal(raw, &doc)
	doc["$id"] = schematest.ID(file)
	doc["title"] = fmt.Sprintf("vocals-bridge %s %s CloudEvent, v1, structured JSON mode", f, what)
	doc["description"] = fmt.Sprintf("The body of the message the bridge publishes %s (the prefix defaults to %s).", when, f)
	props := doc["properties"].(map[string]any)
	props["id"].(map[string]any)["description"] = fmt.Sprintf("UUIDv5 of \"%s/<task_id>/%s\": the same however often %s; also the Nats-Msg-Id.", f, what, often)
	props["type"] = map[string]any{"const": typ}
	return doc
}

// familyDataSchema is the data schema of a family whose data is another
// family's type, or nil when the family's data schema is its own.
func familyDataSchema(f event.Family) map[string]any {
	var ref, what string
	switch {
	case f.Tracks():
		ref, what = "data.schema.json", "a music callback, as add-vocals'"
	case f == event.FamilyVoiceValidate || f == event.FamilyVoiceRegenerate:
		ref, what = "voice.data.schema.json", "a voice callback, as the voice family's"
	default:
		return nil
	}
	var stages []any
	for _, st := range f.Stages() {
		stages = append(stages, string(st))
	}
	return map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         schematest.ID(filepath.Base(f.DataSchemaPath())),
		"title":       fmt.Sprintf("vocals-bridge %s event data, v1", f),
		"description": fmt.Sprintf("The data of every com.sunoapi.%s.<stage>.v1 event: %s.", f, what),
		"type":        "object",
		"$ref":        ref,
		"properties":  map[string]any{"stage": map[string]any{"enum": stages}},
	}
}

// Each family's schemas are where its events say, and served.
func TestEveryFamilyHasItsSchemas(t *testing.T) {
	for _, f := range event.Families() {
		for _, p := range []string{f.DataSchemaPath(), f.EventSchemaPath()} {
			if _, err := fsRead(strings.TrimPrefix(p, "/")); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
}
