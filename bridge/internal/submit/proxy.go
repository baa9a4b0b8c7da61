package submit

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/provider"
)

// Forwarder sends a submission to the provider; *provider.Client is the
// real one.
type Forwarder interface {
	Submit(ctx context.Context, path string, body []byte, auth string) (provider.Answer, error)
}

// TrackedHeader on a proxied answer says whether the bridge tracks the
// task ("true"), could not ("false", see the logs), or there was no task.
const TrackedHeader = "Vocals-Tracked"

// maxRequest bounds a submission body.
const maxRequest = 1 << 20

// Proxy forwards each family's submissions (on the provider's own path)
// with the family's callback URL (family.Family.CallbackURL of
// CallbackURL) as their callBackUrl, returns the provider's answer
// unchanged, and tracks the task it created under its family. The client's Authorization header is forwarded when it
// sends one; otherwise the bridge's own API key is used. Neither is ever
// logged or put in an event.
type Proxy struct {
	Provider    Forwarder
	Tracker     *Tracker
	Families    []family.Family
	CallbackURL string        // add-vocals'; the other families' are made from it
	Timeout     time.Duration // for tracking, after the provider answered
	Log         *zap.Logger
	// Failed, if set, is called when a created task could not be tracked.
	Failed func()
}

// ServeHTTP handles POST on each family's submit path.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var f family.Family
	for _, fam := range p.Families {
		if fam.Submit == r.URL.Path {
			f = fam
		}
	}
	if f.Name == "" {
		refuse(w, http.StatusNotFound, "no enabled family submits on "+r.URL.Path)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	var fields map[string]json.RawMessage
	switch {
	case err != nil:
		refuse(w, http.StatusBadRequest, "the request body could not be read")
		return
	case len(raw) > maxRequest:
		refuse(w, http.StatusRequestEntityTooLarge, "the request body is larger than 1 MiB")
		return
	case json.Unmarshal(raw, &fields) != nil || fields == nil:
		refuse(w, http.StatusBadRequest, "the request body must be a JSON object")
		return
	}
	// Every spelling of the callback member goes: a provider that reads
	// member names without regard to case (as Go's own decoder does) must
	// find only the bridge's URL.
	for name := range fields {
		if strings.EqualFold(name, "callBackUrl") || strings.EqualFold(name, f.CallbackField) {
			delete(fields, name)
		}
	}
	cb, _ := json.Marshal(f.CallbackURL(p.CallbackURL))
	fields[f.CallbackField] = cb
	body, _ := json.Marshal(fields)

	// The provider's answer and the tracking must both finish even if the
	// client gives up: the task exists once the provider accepted it.
	ctx := context.WithoutCancel(r.Context())
	ans, err := p.Provider.Submit(ctx, f.Submit, body, r.Header.Get("Authorization"))
	if err != nil {
		p.Log.Warn("submit: provider unreachable", zap.Error(err))
		refuse(w, http.StatusBadGateway, "the provider could not be reached")
		return
	}
	tracked := ""
	if ans.TaskID != "" {
		tctx, cancel := context.WithTimeout(ctx, p.Timeout)
		created, err := p.Tracker.Track(tctx, f.Name, ans.TaskID, event.ViaProxy, body)
		cancel()
		tracked = "true"
		if err != nil {
			tracked = "false"
			if p.Failed != nil {
				p.Failed()
			}
			p.Log.Error("submit: the provider created a task the bridge could not track; announce it again",
				zap.String("family", string(f.Name)), zap.String("task_id", ans.TaskID), zap.Error(err))
		} else if created {
			p.Log.Info("task tracked", zap.String("family", string(f.Name)), zap.String("task_id", ans.TaskID), zap.String("via", string(event.ViaProxy)))
		}
	} else {
		p.Log.Info("submit: provider answered without a task", zap.Int("status", ans.Status))
	}
	if ans.ContentType != "" {
		w.Header().Set("Content-Type", ans.ContentType)
	}
	if tracked != "" {
		w.Header().Set(TrackedHeader, tracked)
	}
	w.WriteHeader(ans.Status)
	_, _ = w.Write(ans.Body)
}

// refuse answers in the provider's envelope, so clients parse one shape.
func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": status, "msg": "vocals-bridge: " + msg, "data": nil})
}
