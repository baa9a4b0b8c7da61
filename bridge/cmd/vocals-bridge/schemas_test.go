package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
)

// httpLoader fetches schemas over HTTP, from loopback only: a validator
// with nothing preloaded, as a consumer would run it.
type httpLoader struct{}

func (l httpLoader) Load(url string) (any, error) {
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		return nil, fmt.Errorf("refusing to fetch %s: not the bridge", url)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return jsonschema.UnmarshalJSON(resp.Body)
}

// An event's dataschema is fetchable from the bridge, and the schema it
// serves there names that URL as its $id, so every relative $ref resolves
// to the bridge too: a standard validator with nothing preloaded validates
// every family's data from the one URL.
func TestSchemasResolveFromTheBridge(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d/schemas", port)
	p := start(t, t.TempDir(), fmt.Sprintf("VOCALS_BRIDGE_HTTP_ADDR=127.0.0.1:%d", port), "VOCALS_BRIDGE_SCHEMA_BASE_URL="+base)
	for _, name := range []event.Family{event.FamilyVocals, event.FamilyLyrics, event.FamilyMIDI, event.FamilyStems} {
		f, _ := family.Get(name)
		ex, _ := f.Example("k", event.StageComplete)
		if r := postWith(t, p.public+f.Path(), ex.For("schemas1"), nil); r.status != 200 {
			t.Fatalf("%s: %d %+v", name, r.status, r.a)
		}
		msgs := streamMessages(t, p.natsURL, string(f.Name)+".schemas1.complete")
		if len(msgs) != 1 {
			t.Fatalf("%s: %d events", name, len(msgs))
		}
		var ev struct {
			DataSchema string          `json:"dataschema"`
			Data       json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(msgs[0].Data, &ev); err != nil || !strings.HasPrefix(ev.DataSchema, base+"/") {
			t.Fatalf("%s: dataschema %q (%v), want under %s", name, ev.DataSchema, err, base)
		}
		c := jsonschema.NewCompiler()
		c.UseLoader(jsonschema.SchemeURLLoader{"http": httpLoader{}})
		sch, err := c.Compile(ev.DataSchema)
		if err != nil {
			t.Fatalf("%s: compiling %s from the bridge: %v", name, ev.DataSchema, err)
		}
		data, _ := jsonschema.UnmarshalJSON(strings.NewReader(string(ev.Data)))
		if err := sch.Validate(data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
