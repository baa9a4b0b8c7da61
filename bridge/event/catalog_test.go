package event_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/schematest"
)

// loadAsyncAPI reads schemas/asyncapi.yaml as plain JSON-like values.
func loadAsyncAPI(t *testing.T) (map[string]any, string) {
	t.Helper()
	dir := filepath.Join(schematest.RepoRoot(t), "schemas")
	raw, err := os.ReadFile(filepath.Join(dir, "asyncapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("asyncapi.yaml: %v", err)
	}
	return doc, dir
}

// pointer resolves a JSON pointer ("/a/b") in v.
func pointer(v any, ptr string) (any, error) {
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[tok]
			if !ok {
				return nil, fmt.Errorf("no %q", tok)
			}
			v = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(node) {
				return nil, fmt.Errorf("no index %q", tok)
			}
			v = node[i]
		default:
			return nil, fmt.Errorf("%q inside a scalar", tok)
		}
	}
	return v, nil
}

// walkRefs calls fn for every "$ref" in v.
func walkRefs(v any, fn func(ref string)) {
	switch node := v.(type) {
	case map[string]any:
		for k, child := range node {
			if ref, ok := child.(string); ok && k == "$ref" {
				fn(ref)
			}
			walkRefs(child, fn)
		}
	case []any:
		for _, child := range node {
			walkRefs(child, fn)
		}
	}
}

// The AsyncAPI document parses, is version 3, and every $ref in it, local
// or to a schema file, resolves.
func TestAsyncAPIRefsResolve(t *testing.T) {
	doc, dir := loadAsyncAPI(t)
	if doc["asyncapi"] != "3.0.0" {
		t.Fatalf("asyncapi %v, want 3.0.0", doc["asyncapi"])
	}
	refs := 0
	walkRefs(doc, func(ref string) {
		refs++
		file, frag, _ := strings.Cut(ref, "#")
		target := any(doc)
		if file != "" {
			raw, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				t.Errorf("$ref %s: %v", ref, err)
				return
			}
			if err := json.Unmarshal(raw, &target); err != nil {
				t.Errorf("$ref %s: not JSON: %v", ref, err)
				return
			}
		}
		if _, err := pointer(target, frag); err != nil {
			t.Errorf("$ref %s does not resolve: %v", ref, err)
		}
	})
	if refs < 20 {
		t.Errorf("only %d $refs: the document lost its structure", refs)
	}
	channels := doc["channels"].(map[string]any)
	for _, want := range []string{"text", "first", "complete", "error", "deadLetters"} {
		if channels[want] == nil {
			t.Errorf("no channel %s", want)
		}
	}
	if addr := channels["complete"].(map[string]any)["address"]; addr != "vocals.{task_id}.complete" {
		t.Errorf("complete channel address %v", addr)
	}
}

// compileInline compiles a schema object taken from the AsyncAPI document,
// resolving its relative $refs against schemas/.
func compileInline(t *testing.T, dir, name string, schema any) *jsonschema.Schema {
	t.Helper()
	c := schematest.Compiler(t)
	url := "file://" + filepath.ToSlash(filepath.Join(dir, name+".json"))
	if err := c.AddResource(url, schema); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

func asJSONValue(t *testing.T, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Every golden event validates against the payload of its stage's
// structured message and no other stage's; its data and binary-mode headers
// validate against the binary message's payload and headers.
func TestAsyncAPIMessagesMatchGoldenEvents(t *testing.T) {
	doc, dir := loadAsyncAPI(t)
	messages, _ := pointer(doc, "/components/messages")
	schemas, _ := pointer(doc, "/components/schemas")
	goldens, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if len(goldens) == 0 {
		t.Fatal("no golden events")
	}
	binaryHeaders := compileInline(t, dir, "binary-headers", schemas.(map[string]any)["binaryHeaders"])
	for _, g := range goldens {
		raw, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct{ Type string }
		_ = json.Unmarshal(raw, &ev)
		stage := strings.TrimSuffix(strings.TrimPrefix(ev.Type, event.TypePrefix), "."+event.Version)
		for _, st := range event.Stages() {
			msg := messages.(map[string]any)[string(st)+"Structured"].(map[string]any)
			s := compileInline(t, dir, "payload-"+string(st), msg["payload"])
			err := s.Validate(asJSONValue(t, raw))
			if (string(st) == stage) != (err == nil) {
				t.Errorf("%s against the %s message: %v", filepath.Base(g), st, err)
			}
		}
		bin := messages.(map[string]any)[stage+"Binary"].(map[string]any)
		header, data, err := event.ToBinary(raw)
		if err != nil {
			t.Fatal(err)
		}
		header["Nats-Msg-Id"] = "x"
		hjson, _ := json.Marshal(header)
		if err := binaryHeaders.Validate(asJSONValue(t, hjson)); err != nil {
			t.Errorf("%s binary headers: %v", filepath.Base(g), err)
		}
		if err := compileInline(t, dir, "binary-"+stage, bin["payload"]).Validate(asJSONValue(t, data)); err != nil {
			t.Errorf("%s binary payload: %v", filepath.Base(g), err)
		}
	}
}

// A built submitted or archived event matches its messages, in both
// modes, and no stage message.
func TestAsyncAPISubmittedAndArchivedMessages(t *testing.T) {
	doc, dir := loadAsyncAPI(t)
	messages, _ := pointer(doc, "/components/messages")
	msgs := messages.(map[string]any)
	for _, tt := range []struct {
		name  string
		stage event.Stage
	}{{"submitted", event.StageSubmitted}, {"archived", event.StageArchived}} {
		raw, err := os.ReadFile(filepath.Join("testdata", tt.name+".json")) // the builder's output, held by its tests
		if err != nil {
			t.Fatal(err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			t.Fatal(err)
		}
		body := compact.Bytes()
		structured := msgs[tt.name+"Structured"].(map[string]any)
		if err := compileInline(t, dir, "payload-"+tt.name, structured["payload"]).Validate(asJSONValue(t, body)); err != nil {
			t.Errorf("%s structured payload: %v", tt.name, err)
		}
		for _, st := range event.Stages() {
			stage := msgs[string(st)+"Structured"].(map[string]any)
			if compileInline(t, dir, "payload-"+string(st), stage["payload"]).Validate(asJSONValue(t, body)) == nil {
				t.Errorf("a %s event matches the %s message", tt.name, st)
			}
		}
		header, data, err := event.ToBinary(body)
		if err != nil {
			t.Fatal(err)
		}
		header["Nats-Msg-Id"] = event.ID("task1", tt.stage)
		hjson, _ := json.Marshal(header)
		bin := msgs[tt.name+"Binary"].(map[string]any)
		if err := compileInline(t, dir, tt.name+"-headers", bin["headers"]).Validate(asJSONValue(t, hjson)); err != nil {
			t.Errorf("%s binary headers: %v", tt.name, err)
		}
		if err := compileInline(t, dir, tt.name+"-binary", bin["payload"]).Validate(asJSONValue(t, data)); err != nil {
			t.Errorf("%s binary payload: %v", tt.name, err)
		}
	}
}

// The timeout event of every family (built as the bridge builds it)
// matches its family's timeout messages, in both modes, and none of the
// family's stage messages: a consumer of the catalog tells them apart.
func TestAsyncAPITimeoutMessages(t *testing.T) {
	doc, dir := loadAsyncAPI(t)
	messages, _ := pointer(doc, "/components/messages")
	schemas, _ := pointer(doc, "/components/schemas")
	msgs := messages.(map[string]any)
	b := cloudevent.NewBuilder("vocals", "/vocals-bridge", "http://localhost:8080/schemas", time.UTC)
	for _, f := range family.All() {
		prefix := ""
		if f.Name != event.FamilyVocals {
			prefix = key(f.Name)
		}
		name := func(s string) string { // timeoutStructured, wavTimeoutStructured
			if prefix == "" {
				return strings.ToLower(s[:1]) + s[1:]
			}
			return prefix + s
		}
		cb, err := f.Callback("task1", 408, "timeout: no terminal stage within 1h0m0s", nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := b.Build(cb, cloudevent.Source{Body: nil, Origin: event.OriginTimeout})
		if err != nil {
			t.Fatal(err)
		}
		compile := func(msg, part string) *jsonschema.Schema {
			return compileInline(t, dir, msg+"-"+part, inline(msgs[msg].(map[string]any)[part], schemas.(map[string]any)))
		}
		if err := compile(name("TimeoutStructured"), "payload").Validate(asJSONValue(t, m.Body)); err != nil {
			t.Errorf("%s: structured: %v", f.Name, err)
		}
		stages := []string{"errorStructured", "completeStructured"}
		if prefix != "" {
			stages = []string{prefix + "Structured"}
		}
		for _, other := range stages {
			if compile(other, "payload").Validate(asJSONValue(t, m.Body)) == nil {
				t.Errorf("%s: a timeout matches the %s message", f.Name, other)
			}
		}
		header, data, err := event.ToBinary(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		header["Nats-Msg-Id"] = m.ID
		hjson, _ := json.Marshal(header)
		if err := compile(name("TimeoutBinary"), "headers").Validate(asJSONValue(t, hjson)); err != nil {
			t.Errorf("%s: binary headers: %v", f.Name, err)
		}
		if err := compile(name("TimeoutBinary"), "payload").Validate(asJSONValue(t, data)); err != nil {
			t.Errorf("%s: binary payload: %v", f.Name, err)
		}
	}
}

// inline replaces each reference to a schema of the catalog's components
// in v with that schema, so v compiles on its own.
func inline(v any, schemas map[string]any) any {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok && strings.HasPrefix(ref, "#/components/schemas/") {
			return inline(schemas[strings.TrimPrefix(ref, "#/components/schemas/")], schemas)
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = inline(x, schemas)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = inline(x, schemas)
		}
		return out
	}
	return v
}

// Every message example in the catalog matches its message's payload and
// headers, and each stage has one in both modes.
func TestAsyncAPIExamplesMatchTheirMessages(t *testing.T) {
	doc, dir := loadAsyncAPI(t)
	messages, _ := pointer(doc, "/components/messages")
	schemas, _ := pointer(doc, "/components/schemas")
	resolve := func(v any) any { // a local #/components/schemas/... reference
		if m, ok := v.(map[string]any); ok {
			if ref, ok := m["$ref"].(string); ok && strings.HasPrefix(ref, "#/components/schemas/") {
				return schemas.(map[string]any)[strings.TrimPrefix(ref, "#/components/schemas/")]
			}
		}
		return v
	}
	for _, st := range event.FamilyVocals.EventStages() {
		for _, mode := range []string{"Structured", "Binary"} {
			name := string(st) + mode
			msg := messages.(map[string]any)[name].(map[string]any)
			examples, _ := msg["examples"].([]any)
			if len(examples) == 0 {
				t.Errorf("%s has no example", name)
				continue
			}
			payload := compileInline(t, dir, name+"-payload", msg["payload"])
			for _, e := range examples {
				ex := e.(map[string]any)
				raw, _ := json.Marshal(ex["payload"])
				if err := payload.Validate(asJSONValue(t, raw)); err != nil {
					t.Errorf("%s example %v: payload: %v", name, ex["name"], err)
				}
				if h, ok := ex["headers"]; ok {
					rawH, _ := json.Marshal(h)
					if err := compileInline(t, dir, name+"-headers", resolve(msg["headers"])).Validate(asJSONValue(t, rawH)); err != nil {
						t.Errorf("%s example %v: headers: %v", name, ex["name"], err)
					}
				}
			}
		}
	}
}
