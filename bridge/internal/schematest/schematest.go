// Package schematest validates produced events against the JSON Schemas
// published in the repository's schemas/ folder, with formats asserted.
package schematest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

var (
	once            sync.Once
	schema          *jsonschema.Schema
	submittedSchema *jsonschema.Schema
	ceSchema        *jsonschema.Schema
	loadErr         error
)

// RepoRoot finds the folder holding go.mod above the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		dir = filepath.Dir(dir)
	}
	t.Fatal("go.mod not found above the test's directory")
	return ""
}

// ValidateEvent fails the test unless body is a valid v1 structured-mode
// CloudEvent according to schemas/v1/event.schema.json and a valid
// CloudEvent according to schemas/cloudevents/cloudevents-1.0.schema.json.
func ValidateEvent(t testing.TB, body []byte) {
	t.Helper()
	if err := CheckEvent(t, body); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
}

// CheckEvent is ValidateEvent returning the problem instead of failing.
func CheckEvent(t testing.TB, body []byte) error {
	t.Helper()
	load(t)
	return check(body, schema, "event.schema.json")
}

// ValidateSubmitted fails the test unless body is a valid submitted event
// according to schemas/v1/submitted-event.schema.json and the CloudEvents
// schema.
func ValidateSubmitted(t testing.TB, body []byte) {
	t.Helper()
	load(t)
	if err := check(body, submittedSchema, "submitted-event.schema.json"); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
}

// ValidateArchived fails the test unless body is a valid archived event of
// family f (schemas/v1/<family>.archived-event.schema.json) and a valid
// CloudEvent.
func ValidateArchived(t testing.TB, f event.Family, body []byte) {
	t.Helper()
	ValidateFamilyEvent(t, filepath.Base(f.ArchivedEventSchemaPath()), body)
}

// Compiler returns a compiler, formats asserted, that holds every schema
// of schemas/v1 under its $id, as a standard validator given the files
// would: their relative $refs resolve against those ids.
func Compiler(t testing.TB) *jsonschema.Compiler {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	files, err := filepath.Glob(filepath.Join(RepoRoot(t), "schemas", "v1", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas in schemas/v1 (%v)", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if id == "" {
			t.Fatalf("%s has no $id", f)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// ID is the $id of a schema of schemas/v1, e.g. ID("event.schema.json").
func ID(name string) string {
	return event.SchemaIDBase + "/v1/" + name
}

func load(t testing.TB) {
	t.Helper()
	once.Do(func() {
		c := Compiler(t)
		root := filepath.Join(RepoRoot(t), "schemas")
		if schema, loadErr = c.Compile(ID("event.schema.json")); loadErr != nil {
			return
		}
		if submittedSchema, loadErr = c.Compile(ID("submitted-event.schema.json")); loadErr != nil {
			return
		}
		ceSchema, loadErr = c.Compile(filepath.Join(root, "cloudevents", "cloudevents-1.0.schema.json"))
	})
	if loadErr != nil {
		t.Fatalf("compiling schema: %v", loadErr)
	}
}

var (
	familyMu      sync.Mutex
	familySchemas = map[string]*jsonschema.Schema{}
)

// ValidateFamilyEvent fails the test unless body is a valid event of the
// family whose event schema is the file name (event.schema.json for
// add-vocals, <family>.event.schema.json for the others) and a valid
// CloudEvent.
func ValidateFamilyEvent(t testing.TB, name string, body []byte) {
	t.Helper()
	load(t)
	familyMu.Lock()
	s, ok := familySchemas[name]
	if !ok {
		var err error
		if s, err = Compiler(t).Compile(ID(name)); err != nil {
			familyMu.Unlock()
			t.Fatalf("compiling %s: %v", name, err)
		}
		familySchemas[name] = s
	}
	familyMu.Unlock()
	if err := check(body, s, name); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
}

func check(body []byte, s *jsonschema.Schema, name string) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("event is not JSON: %w", err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("event does not match schemas/v1/%s: %w", name, err)
	}
	if err := ceSchema.Validate(doc); err != nil {
		return fmt.Errorf("event does not match the CloudEvents JSON format schema: %w", err)
	}
	return nil
}
