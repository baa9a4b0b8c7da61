package event_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/schematest"
)

const (
	beginFamilies = "# families: generated from the family table and the golden events by\n"
	endFamilies   = "# end of families\n"
)

// key is a family's name as an AsyncAPI component key: uploadCover.
func key(f event.Family) string {
	parts := strings.Split(string(f), "-")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

// familyGolden is the event the catalog shows for f: its K-spelled
// complete example, as golden.
func familyGolden(t *testing.T, f event.Family) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "golden", string(f), "k-complete.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// flow is v as one YAML flow mapping, as the hand-written examples are.
func flow(t *testing.T, v any) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		t.Fatal(err)
	}
	n.Style = yaml.FlowStyle
	return &n
}

// familySections are the four generated parts of the catalog: channels,
// operations, messages and schemas of every family but add-vocals (whose
// hand-written channels come first).
func familySections(t *testing.T) [4]map[string]any {
	var channels, operations, messages = map[string]any{}, map[string]any{}, map[string]any{}
	for _, f := range event.Families()[1:] {
		k := key(f)
		var stages []string
		for _, st := range f.EventStages() {
			stages = append(stages, string(st))
		}
		description := fmt.Sprintf("The %s family's stages (%s), on %s.<task_id>.<stage>; the prefix is the family's name unless family_subject_prefixes renames it. Stored in the same stream as add-vocals'. timeout is the bridge's verdict, as add-vocals' timeout channel says.", f, strings.Join(stages, ", "), f)
		if f.Archives() {
			description += " archived is the archiver's report on the complete event's media, as add-vocals' archived channel says."
		}
		if row, _ := family.Get(f); row.Undocumented {
			description += " The provider lists this task without a callback page: its callbacks are read as the music envelope, which is uncertain."
		}
		channels[k] = map[string]any{
			"address":     string(f) + ".{task_id}.{stage}",
			"title":       string(f) + " events",
			"description": description,
			"parameters": map[string]any{
				"task_id": map[string]any{"$ref": "#/components/parameters/task_id"},
				"stage":   map[string]any{"description": "The stage; use * for every stage.", "enum": stages},
			},
			"messages": map[string]any{
				k + "Structured":        map[string]any{"$ref": "#/components/messages/" + k + "Structured"},
				k + "Binary":            map[string]any{"$ref": "#/components/messages/" + k + "Binary"},
				k + "TimeoutStructured": map[string]any{"$ref": "#/components/messages/" + k + "TimeoutStructured"},
				k + "TimeoutBinary":     map[string]any{"$ref": "#/components/messages/" + k + "TimeoutBinary"},
			},
		}
		operations["receive"+strings.ToUpper(k[:1])+k[1:]] = map[string]any{
			"action":  "receive",
			"channel": map[string]any{"$ref": "#/channels/" + k},
			"summary": fmt.Sprintf("Consume %s events.", f),
			"messages": []any{
				map[string]any{"$ref": "#/channels/" + k + "/messages/" + k + "Structured"},
				map[string]any{"$ref": "#/channels/" + k + "/messages/" + k + "Binary"},
				map[string]any{"$ref": "#/channels/" + k + "/messages/" + k + "TimeoutStructured"},
				map[string]any{"$ref": "#/channels/" + k + "/messages/" + k + "TimeoutBinary"},
			},
		}
		if f.Archives() {
			chMsgs := channels[k].(map[string]any)["messages"].(map[string]any)
			opMsgs := operations["receive"+strings.ToUpper(k[:1])+k[1:]].(map[string]any)
			for _, mode := range []string{"ArchivedStructured", "ArchivedBinary"} {
				chMsgs[k+mode] = map[string]any{"$ref": "#/components/messages/" + k + mode}
				opMsgs["messages"] = append(opMsgs["messages"].([]any), map[string]any{"$ref": "#/channels/" + k + "/messages/" + k + mode})
			}
			messages[k+"ArchivedStructured"] = map[string]any{
				"name":        string(f) + "-archived-structured",
				"title":       f.ArchivedType() + " (structured mode)",
				"contentType": event.ContentType,
				"headers":     map[string]any{"$ref": "#/components/schemas/structuredHeaders"},
				"payload":     map[string]any{"$ref": "./v1/" + filepath.Base(f.ArchivedEventSchemaPath())},
			}
			messages[k+"ArchivedBinary"] = map[string]any{
				"name":        string(f) + "-archived-binary",
				"title":       f.ArchivedType() + " (binary mode)",
				"contentType": event.DataContentType,
				"headers": map[string]any{"allOf": []any{
					map[string]any{"$ref": "#/components/schemas/familyBinaryHeaders"},
					map[string]any{"properties": map[string]any{"ce-type": map[string]any{"const": f.ArchivedType()}}},
				}},
				"payload": map[string]any{"$ref": "./v1/" + filepath.Base(event.ArchivedSchemaPath)},
			}
		}
		golden := familyGolden(t, f)
		messages[k+"Structured"] = map[string]any{
			"name":        string(f) + "-structured",
			"title":       f.Type("<stage>") + " (structured mode)",
			"contentType": event.ContentType,
			"headers":     map[string]any{"$ref": "#/components/schemas/structuredHeaders"},
			"payload":     map[string]any{"$ref": "./v1/" + filepath.Base(f.EventSchemaPath())},
			"examples": []any{map[string]any{
				"name":    string(f) + "-complete-structured",
				"summary": "The event built from the documented complete callback.",
				"headers": map[string]any{"Content-Type": event.ContentType, "Nats-Msg-Id": golden["id"], "Nats-Expected-Stream": "VOCALS"},
				"payload": flow(t, golden),
			}},
		}
		messages[k+"Binary"] = map[string]any{
			"name":        string(f) + "-binary",
			"title":       f.Type("<stage>") + " (binary mode)",
			"contentType": event.DataContentType,
			"headers":     map[string]any{"$ref": "#/components/schemas/familyBinaryHeaders"},
			"payload":     map[string]any{"$ref": "./v1/" + filepath.Base(f.DataSchemaPath())},
			"examples": []any{map[string]any{
				"name":    string(f) + "-complete-binary",
				"summary": "The data of the same event in binary mode; its attributes are ce-* headers.",
				"payload": flow(t, golden["data"]),
			}},
		}
		messages[k+"TimeoutStructured"] = map[string]any{
			"name":        string(f) + "-timeout-structured",
			"title":       f.Type(event.StageTimeout) + " (structured mode)",
			"contentType": event.ContentType,
			"headers":     map[string]any{"$ref": "#/components/schemas/structuredHeaders"},
			"payload":     map[string]any{"$ref": "./v1/" + filepath.Base(f.TimeoutEventSchemaPath())},
		}
		messages[k+"TimeoutBinary"] = map[string]any{
			"name":        string(f) + "-timeout-binary",
			"title":       f.Type(event.StageTimeout) + " (binary mode)",
			"contentType": event.DataContentType,
			"headers": map[string]any{"allOf": []any{
				map[string]any{"$ref": "#/components/schemas/familyBinaryHeaders"},
				map[string]any{"properties": map[string]any{"ce-type": map[string]any{"const": f.Type(event.StageTimeout)}, "ce-origin": map[string]any{"const": string(event.OriginTimeout)}}, "required": []any{"ce-origin"}},
			}},
			"payload": map[string]any{"$ref": "./v1/" + filepath.Base(f.DataSchemaPath())},
		}
	}
	// The binary headers of add-vocals', but any family's type.
	doc, _ := loadAsyncAPI(t)
	headers, err := pointer(doc, "/components/schemas/binaryHeaders")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(headers)
	var fh map[string]any
	_ = json.Unmarshal(raw, &fh)
	fh["description"] = "NATS headers of a binary-mode event of any family but add-vocals: as binaryHeaders, with the family's type."
	fh["properties"].(map[string]any)["ce-type"] = map[string]any{"type": "string", "pattern": `^com\.sunoapi\.[a-z-]+\.(text|first|complete|error|timeout|archived)\.v1$`}
	return [4]map[string]any{channels, operations, messages, {"familyBinaryHeaders": fh}}
}

// splice replaces the lines of the n-th generated region of doc (after
// its two comment lines, before its end line) with body, indented as the
// region's comments are.
func splice(t *testing.T, doc string, n int, body []byte) string {
	t.Helper()
	lines := strings.SplitAfter(doc, "\n")
	var begins, ends []int
	for i, l := range lines {
		switch strings.TrimLeft(l, " ") {
		case beginFamilies:
			begins = append(begins, i)
		case endFamilies:
			ends = append(ends, i)
		}
	}
	if len(begins) != 4 || len(ends) != 4 || n >= len(begins) {
		t.Fatalf("asyncapi.yaml has %d generated regions and %d ends, want 4", len(begins), len(ends))
	}
	b, e := begins[n], ends[n]
	pad := lines[b][:len(lines[b])-len(strings.TrimLeft(lines[b], " "))]
	var out strings.Builder
	out.WriteString(strings.Join(lines[:b+2], ""))
	for _, l := range strings.SplitAfter(string(body), "\n") {
		if l != "" {
			out.WriteString(pad + l)
		}
	}
	out.WriteString(strings.Join(lines[e:], ""))
	return out.String()
}

// The catalog's family channels, operations and messages are the family
// table's and the golden events', and the catalog holds them unchanged.
func TestAsyncAPIFamilies(t *testing.T) {
	path := filepath.Join(schematest.RepoRoot(t), "schemas", "asyncapi.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for i, section := range familySections(t) {
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(section); err != nil {
			t.Fatal(err)
		}
		doc = splice(t, doc, i, buf.Bytes())
	}
	if *update {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if doc != string(raw) {
		t.Fatal("schemas/asyncapi.yaml's family sections are stale; run go test ./bridge/event -run TestAsyncAPIFamilies -update")
	}
}

// Every family's golden events validate against its structured message
// and no other family's; their data and binary headers against its
// binary message.
func TestAsyncAPIFamilyMessagesMatchGoldens(t *testing.T) {
	doc, dir := loadAsyncAPI(t)
	messages, _ := pointer(doc, "/components/messages")
	schemas, _ := pointer(doc, "/components/schemas")
	msgs := messages.(map[string]any)
	headers := compileInline(t, dir, "family-binary-headers", schemas.(map[string]any)["familyBinaryHeaders"])
	fams := event.Families()[1:]
	for i, f := range fams {
		goldens, _ := filepath.Glob(filepath.Join("testdata", "golden", string(f), "*.json"))
		if len(goldens) < 4 {
			t.Fatalf("%s: %d golden events", f, len(goldens))
		}
		own := compileInline(t, dir, key(f)+"-structured", msgs[key(f)+"Structured"].(map[string]any)["payload"])
		other := fams[(i+1)%len(fams)]
		theirs := compileInline(t, dir, key(other)+"-structured", msgs[key(other)+"Structured"].(map[string]any)["payload"])
		bin := compileInline(t, dir, key(f)+"-binary", msgs[key(f)+"Binary"].(map[string]any)["payload"])
		for _, g := range goldens {
			raw, err := os.ReadFile(g)
			if err != nil {
				t.Fatal(err)
			}
			if err := own.Validate(asJSONValue(t, raw)); err != nil {
				t.Errorf("%s against its message: %v", g, err)
			}
			if theirs.Validate(asJSONValue(t, raw)) == nil {
				t.Errorf("%s matches the %s message", g, other)
			}
			h, data, err := event.ToBinary(raw)
			if err != nil {
				t.Fatal(err)
			}
			h["Nats-Msg-Id"] = "x"
			hj, _ := json.Marshal(h)
			if err := headers.Validate(asJSONValue(t, hj)); err != nil {
				t.Errorf("%s binary headers: %v", g, err)
			}
			if err := bin.Validate(asJSONValue(t, data)); err != nil {
				t.Errorf("%s binary data: %v", g, err)
			}
		}
	}
}
