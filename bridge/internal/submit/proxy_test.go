package submit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natstest"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/provider"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/submit"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/sunosim"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/track"
)

const callbackURL = "https://bridge.invalid/callbacks/vocals?token=t0k"

// proxyRig is the proxy over a real JetStream server (no spool) and the
// simulator.
type proxyRig struct {
	srv    *natstest.Server
	sim    *sunosim.Sim
	simURL string
	proxy  *httptest.Server
	store  *track.Store
}

func newProxyRig(t *testing.T, providerURL string) *proxyRig {
	t.Helper()
	srv := natstest.Start(t)
	pub, store := srv.Tracking(t)

	r := &proxyRig{srv: srv, store: store}
	if providerURL == "" {
		r.sim = sunosim.New(sunosim.Options{APIKey: "key", Fault: sunosim.Fault{Stuck: true}})
		simSrv := httptest.NewServer(r.sim)
		t.Cleanup(func() { simSrv.Close(); r.sim.Close() })
		providerURL, r.simURL = simSrv.URL, simSrv.URL
	}
	client, err := provider.New(providerURL, "key", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	builder := cloudevent.NewBuilder("vocals", "/vocals-bridge", "http://localhost/schemas", time.UTC)
	tracker := submit.NewTracker(store, builder, deliver.New(pub, nil, nil, time.Second, nil), time.Minute, event.Families())
	r.proxy = httptest.NewServer(&submit.Proxy{
		Provider: client, Tracker: tracker, Families: family.All(), CallbackURL: callbackURL, Timeout: 2 * time.Second, Log: zaptest.NewLogger(t),
	})
	t.Cleanup(r.proxy.Close)
	return r
}

func (r *proxyRig) post(t *testing.T, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(r.proxy.URL+sunosim.SubmitPath, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

// request names a callback URL of its own in three spellings; the provider
// must see only the bridge's.
const request = `{"uploadUrl":"u","prompt":"p","title":"t","style":"s","negativeTags":"n","callBackUrl":"https://elsewhere.invalid/cb",` +
	`"callbackurl":"https://elsewhere.invalid/lower","CallBackUrl":"https://elsewhere.invalid/upper"}`

func taskIDOf(t *testing.T, raw []byte) string {
	t.Helper()
	var a struct{ Data struct{ TaskID string } }
	if err := json.Unmarshal(raw, &a); err != nil || a.Data.TaskID == "" {
		t.Fatalf("answer without a task: %s", raw)
	}
	return a.Data.TaskID
}

// The provider gets the bridge's callBackUrl; the client gets the
// provider's answer as it was; the task is tracked.
func TestProxyFillsCallbackURLAndTracks(t *testing.T) {
	r := newProxyRig(t, "")
	resp, raw := r.post(t, request)
	if resp.StatusCode != 200 || resp.Header.Get(submit.TrackedHeader) != "true" {
		t.Fatalf("HTTP %d %q %s", resp.StatusCode, resp.Header.Get(submit.TrackedHeader), raw)
	}
	id := taskIDOf(t, raw)
	if !r.store.Tracked("vocals", id) {
		t.Error("the task is not tracked")
	}
	// record-info shows the request as the provider received it.
	pc, _ := provider.New(r.simURL, "key", time.Second)
	vocals, _ := family.Get(event.FamilyVocals)
	ti, err := pc.Details(context.Background(), vocals, id)
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Data struct{ Param string } }
	var param map[string]any
	_ = json.Unmarshal(ti.Raw, &env)
	if err := json.Unmarshal([]byte(env.Data.Param), &param); err != nil || param["callBackUrl"] != callbackURL || param["title"] != "t" {
		t.Errorf("the provider received %v", param)
	}
	for name, v := range param {
		if strings.EqualFold(name, "callBackUrl") && (name != "callBackUrl" || v != callbackURL) {
			t.Errorf("the provider received %s=%v", name, v)
		}
	}
}

// Bad requests are refused in the provider's envelope; a provider that
// cannot be reached is a 502; neither creates or tracks anything.
func TestProxyRefusals(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name, provider, body string
		status               int
	}{
		{"not JSON", "", `hello`, 400},
		{"not an object", "", `[1]`, 400},
		{"null", "", `null`, 400},
		{"too large", "", `{"x":"` + strings.Repeat("a", 1<<20) + `"}`, 413},
		{"provider unreachable", closed.URL, request, 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newProxyRig(t, tt.provider)
			resp, raw := r.post(t, tt.body)
			var env struct {
				Code int
				Msg  string
			}
			if resp.StatusCode != tt.status || json.Unmarshal(raw, &env) != nil || env.Code != tt.status || !strings.HasPrefix(env.Msg, "vocals-bridge: ") {
				t.Errorf("HTTP %d %s", resp.StatusCode, raw)
			}
			if resp.Header.Get(submit.TrackedHeader) != "" {
				t.Errorf("%s: %q", submit.TrackedHeader, resp.Header.Get(submit.TrackedHeader))
			}
			if n, _ := r.store.Counts(time.Now(), time.Hour); n != 0 {
				t.Errorf("%d tasks tracked", n)
			}
		})
	}
}

// When the task cannot be tracked (here: JetStream is gone and there is
// no spool), the client still gets the provider's answer, marked
// Vocals-Tracked: false, so it can announce the task later.
func TestProxyAnswersEvenWhenTrackingFails(t *testing.T) {
	r := newProxyRig(t, "")
	r.srv.Shutdown()
	resp, raw := r.post(t, request)
	if resp.StatusCode != 200 || resp.Header.Get(submit.TrackedHeader) != "false" {
		t.Fatalf("HTTP %d %q %s", resp.StatusCode, resp.Header.Get(submit.TrackedHeader), raw)
	}
	if !bytes.Contains(raw, []byte(taskIDOf(t, raw))) || len(r.sim.Tasks()) != 1 {
		t.Errorf("answer %s", raw)
	}
}
