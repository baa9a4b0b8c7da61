// Package httpapi is the bridge's HTTP surface: the public listener that
// takes provider callbacks (and serves the event schemas), the admin
// listener with health, readiness, metrics, the operator API and console
// (a task's story, dead letters and their redrive), and the submit proxy's
// listener. Each callback goes gate -> read -> peek -> verify -> decode ->
// build -> deliver -> answer in callbackHandler.serve and process
// (callback.go); a redrive runs a dead letter through the same process
// (redrive.go).
package httpapi

import (
	"bytes"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/cloudevent"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deadletter"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/verify"
)

// SchemaPrefix is where the event schemas are served.
const SchemaPrefix = "/schemas"

// PublicDeps are what the public listener needs.
type PublicDeps struct {
	Log     *zap.Logger
	Metrics *metrics.Metrics
	Builder *cloudevent.Builder
	Sink    deliver.Sink
	// Families are the enabled families. Every family has its route; a
	// disabled one's refuses (404 family_disabled) and dead-letters.
	Families []family.Family
	// BodyLimit is the largest accepted body in bytes; larger gets 413.
	BodyLimit int64
	// RetryAfter is sent with 503 answers.
	RetryAfter time.Duration
	// Schemas is served read-only under SchemaPrefix, each $id naming
	// where it is served: SchemaBase (the events' dataschema base) in
	// place of event.SchemaIDBase.
	Schemas    fs.FS
	SchemaBase string
	// DeadLetter keeps refused callbacks; nil disables that.
	DeadLetter DeadLetter
	// Verifier checks the source; nil (or one with nothing configured)
	// accepts every source.
	Verifier *verify.Verifier
	// Guard are the abuse limits in front of the callback route.
	Guard GuardConfig
	// Tasks, if set, hears of every recorded callback event, so task
	// tracking can end on a terminal stage.
	Tasks TaskObserver
}

// TaskObserver hears of recorded callback events: stored is false for a
// duplicate. It must not block.
type TaskObserver interface {
	Observe(fam event.Family, taskID string, stage event.Stage, stored bool)
}

// DeadLetter records a refused callback without blocking the answer;
// *deadletter.Writer is the real one.
type DeadLetter interface {
	Record(deadletter.Rejection)
}

// Public is the public listener's handler, and the pipeline a redrive
// runs a dead letter through.
type Public struct {
	*echo.Echo
	h *callbackHandler
}

// NewPublic returns the public listener's handler: POST
// /callbacks/<family> for each family (and
// /callbacks/<family>/<token> when a token is configured) and
// GET /schemas/..., nothing else.
func NewPublic(d PublicDeps) *Public {
	e := newEcho(d.Log, d.Metrics, "public")
	e.IPExtractor = clientIPs(d.Guard.TrustedProxies)
	h := &callbackHandler{d: d, g: newGate(d.Guard, d.Metrics), enabled: map[event.Family]bool{}}
	for _, f := range d.Families {
		h.enabled[f.Name] = true
	}
	// A disabled family keeps its route: its callbacks are verified and
	// refused (404 family_disabled) into the dead letters, to be redriven
	// once it is on again.
	for _, f := range family.All() {
		serve := func(c echo.Context) error { return h.traced(c, f) }
		e.POST(f.Path(), serve)
		if d.Verifier != nil && d.Verifier.TokenRequired() {
			// The token may be the last path segment, for providers whose
			// callBackUrl cannot carry a query.
			e.POST(f.Path()+"/:token", serve)
		}
	}
	schemas := http.StripPrefix(SchemaPrefix, http.FileServer(http.FS(d.Schemas)))
	e.GET(SchemaPrefix+"/*", echo.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/schema+json")
		name := strings.TrimPrefix(r.URL.Path, SchemaPrefix+"/")
		raw, err := fs.ReadFile(d.Schemas, name)
		if d.SchemaBase == "" || !strings.HasSuffix(name, ".json") || err != nil {
			schemas.ServeHTTP(w, r) // listings, 404s
			return
		}
		_, _ = w.Write(servedSchema(raw, d.SchemaBase))
	})))
	return &Public{Echo: e, h: h}
}

// servedSchema is raw with its $id under base instead of
// event.SchemaIDBase: the URL it is served at, the one events name as
// their dataschema, so a validator that fetches it resolves relative $refs
// against the bridge too.
func servedSchema(raw []byte, base string) []byte {
	from := []byte(`"$id": "` + event.SchemaIDBase + "/")
	to := []byte(`"$id": "` + strings.TrimSuffix(base, "/") + "/")
	return bytes.Replace(raw, from, to, 1)
}
