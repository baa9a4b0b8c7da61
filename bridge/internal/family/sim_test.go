package family_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/provider"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/sunosim"
)

// The simulator is written from the provider's documentation alone; its paths must be the
// bridge's.
func TestSimulatorServesTheSameFamilies(t *testing.T) {
	if len(sunosim.Families) != len(family.All()) {
		t.Fatalf("%d simulated families, %d in the table", len(sunosim.Families), len(family.All()))
	}
	for i, f := range family.All() {
		s := sunosim.Families[i]
		if s.Name != string(f.Name) || s.Submit != f.Submit || s.Details != f.Details || s.CallbackField() != f.CallbackField {
			t.Errorf("simulator %+v, table %s %s %s %s", s, f.Name, f.Submit, f.Details, f.CallbackField)
		}
	}
}

// decoded is what a callback receiver made of the simulator's callbacks.
type decoded struct {
	mu    sync.Mutex
	stage map[string]event.Stage // by task id
	errs  []error
}

// For every family, in both spellings, a task that succeeds and one that
// fails: the simulator's callbacks decode with the family's kind to the
// stages it reached, and the details endpoint, read with the family's
// vocabulary, stands for the same terminal stage.
func TestSimulatorAndBridgeAgree(t *testing.T) {
	for _, spelling := range []string{sunosim.SpellingS, sunosim.SpellingK} {
		t.Run(spelling, func(t *testing.T) {
			t.Parallel()
			d := &decoded{stage: map[string]event.Stage{}}
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				f, _ := family.Get(event.Family(r.URL.Path[len("/callbacks/"):]))
				p, err := f.Kind.Peek(body)
				if err == nil {
					c, derr := f.Kind.Decode(p, f.Name)
					err = derr
					if err == nil {
						d.mu.Lock()
						if c.Stage == event.StageComplete || c.Stage == event.StageError || d.stage[c.TaskID] == "" {
							d.stage[c.TaskID] = c.Stage
						}
						d.mu.Unlock()
					}
				}
				if err != nil {
					d.mu.Lock()
					d.errs = append(d.errs, err)
					d.mu.Unlock()
					w.WriteHeader(http.StatusBadRequest)
				}
			}))
			defer recv.Close()
			sim := sunosim.New(sunosim.Options{APIKey: "k", Scale: 0.0001, StageGap: 100 * time.Second, Spelling: spelling})
			srv := httptest.NewServer(sim)
			defer func() { srv.Close(); sim.Close() }()
			client, err := provider.New(srv.URL, "k", 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			type want struct {
				f     family.Family
				stage event.Stage
			}
			tasks := map[string]want{}
			stuck := map[string]family.Family{}
			for _, f := range family.All() {
				body, _ := json.Marshal(map[string]any{f.CallbackField: recv.URL + f.Path(), "simFault": "stuck",
					"prompt": "p", "title": "t", "uploadUrl": "u", "style": "s", "negativeTags": "n"})
				if a, err := client.Submit(context.Background(), f.Submit, body, ""); err == nil {
					stuck[a.TaskID] = f
				}
				for _, fail := range []bool{false, true} {
					req := map[string]any{f.CallbackField: recv.URL + f.Path(), "prompt": "p", "title": "t",
						"uploadUrl": "u", "style": "s", "negativeTags": "n"}
					stage := event.StageComplete
					if fail {
						req["simFault"], stage = "fail=501", event.StageError
					}
					body, _ := json.Marshal(req)
					a, err := client.Submit(context.Background(), f.Submit, body, "")
					if err != nil || a.TaskID == "" {
						t.Fatalf("%s: submit %d %s %v", f.Name, a.Status, a.Body, err)
					}
					tasks[a.TaskID] = want{f, stage}
				}
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				d.mu.Lock()
				done := 0
				for id, w := range tasks {
					if d.stage[id] == w.stage {
						done++
					}
				}
				d.mu.Unlock()
				if done == len(tasks) || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			d.mu.Lock()
			for _, err := range d.errs {
				t.Errorf("a simulated callback did not decode: %v", err)
			}
			for id, w := range tasks {
				if d.stage[id] != w.stage {
					t.Errorf("%s task %s: callbacks ended at %q, want %s", w.f.Name, id, d.stage[id], w.stage)
				}
			}
			d.mu.Unlock()
			for id, f := range stuck {
				if p, err := client.Details(context.Background(), f, id); err != nil || p.Stage {
					t.Errorf("%s details of a pending task: stage %v %s, %v", f.Name, p.Stage, p.Callback.Stage, err)
				}
			}
			if len(stuck) != len(family.All()) {
				t.Errorf("%d stuck tasks submitted", len(stuck))
			}
			for id, w := range tasks {
				p, err := client.Details(context.Background(), w.f, id)
				if err != nil {
					t.Errorf("%s details: %v", w.f.Name, err)
					continue
				}
				if !p.Stage || p.Callback.Stage != w.stage || p.Callback.TaskID != id {
					t.Errorf("%s details %s stand for %v %s, want %s\n%s", w.f.Name, p.Status, p.Stage, p.Callback.Stage, w.stage, p.Raw)
				}
				if w.stage == event.StageComplete && !family.HasResult(p.Callback) {
					t.Errorf("%s details of a finished task carry no result: %s", w.f.Name, bytes.TrimSpace(p.Raw))
				}
			}
		})
	}
}
