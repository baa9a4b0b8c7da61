package httpapi

import (
	"cmp"
	"context"
	_ "embed"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deadletter"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/story"
)

// consolePath is the operator page on the admin listener.
const consolePath = "/console"

// adminCookie holds the admin token for the console's browser.
const adminCookie = "vocals_admin_token"

// Glance is the console's line about the bridge as a whole.
type Glance struct {
	Readiness      Readiness
	StreamMsgs     uint64
	DeadLetterMsgs uint64
	SpoolEntries   int
	SpoolOldest    time.Duration
	TrackingOn     bool
	Tracked        uint64
}

//go:embed console.html
var consoleHTML string

var consoleTmpl = template.Must(template.New("console").Funcs(template.FuncMap{
	"at": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
}).Parse(consoleHTML))

// consolePage is what the template shows.
type consolePage struct {
	Login          bool
	Error          string
	Glance         Glance
	Task           string
	Story          *story.Story
	Results        []Redriven
	Next           uint64 // a redrive of all stopped after this one: more wait
	DeadLettersOff bool
	Reason, Family string
	Filter         string
	ByReason       []count
	ByFamily       []count
	Letters        []deadletter.Letter
}

type count struct {
	Name string
	N    int
}

// consoleRoutes serves the operator page: server-rendered, no script, no
// asset from anywhere; its forms POST, which guard holds to the token (or
// loopback) and to the same origin.
func (a *AdminAPI) consoleRoutes(e *echo.Echo) {
	g := e.Group(consolePath, a.guard)
	g.GET("", func(c echo.Context) error { return a.console(c, nil, "", 0) })
	g.POST("/redrive", func(c echo.Context) error {
		if a.DeadLetters == nil {
			return a.console(c, nil, "dead letters are off", 0)
		}
		req := RedriveRequest{Reason: c.FormValue("reason"), Family: c.FormValue("family")}
		req.After, _ = strconv.ParseUint(c.FormValue("after"), 10, 64)
		if s := c.FormValue("seq"); s != "" {
			seq, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return a.console(c, nil, "a dead letter is named by its sequence number", 0)
			}
			req.Seqs = []uint64{seq}
		}
		if len(req.Seqs) == 0 && req.Reason == "" && req.Family == "" {
			return a.console(c, nil, "choose a reason or a family before redriving all of them", 0)
		}
		res, err := a.runRedrive(c.Request().Context(), req)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		var next uint64
		if len(req.Seqs) == 0 && len(res) == MaxRedrivePage {
			next = res[len(res)-1].Seq
		}
		return a.console(c, res, msg, next)
	})
	e.POST(consolePath+"/login", func(c echo.Context) error {
		if err := crossOrigin.Check(c.Request()); err != nil || a.Token == "" {
			return c.Redirect(http.StatusSeeOther, consolePath)
		}
		if !equalToken(c.FormValue("token"), a.Token) {
			return a.login(c, "wrong token")
		}
		c.SetCookie(&http.Cookie{Name: adminCookie, Value: a.Token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
			Secure: c.Scheme() == "https"})
		return c.Redirect(http.StatusSeeOther, consolePath)
	})
}

func (a *AdminAPI) login(c echo.Context, msg string) error {
	return render(c, http.StatusUnauthorized, consolePage{Login: true, Error: msg})
}

// console renders the page for the request's task and filter, with the
// results of a redrive just made (and where its next page starts).
func (a *AdminAPI) console(c echo.Context, results []Redriven, msg string, next uint64) error {
	ctx := c.Request().Context()
	p := consolePage{Error: msg, Results: results, Next: next, Task: strings.TrimSpace(c.QueryParam("task")),
		Reason: c.FormValue("reason"), Family: c.FormValue("family"), DeadLettersOff: a.DeadLetters == nil}
	if a.Glance != nil {
		p.Glance = a.Glance(ctx)
	}
	if p.Task != "" {
		s, err := a.Story(ctx, p.Task)
		if err != nil {
			p.Error = err.Error()
		} else {
			p.Story = &s
		}
	}
	if a.DeadLetters != nil {
		if err := p.deadLetters(ctx, a.DeadLetters); err != nil {
			p.Error = err.Error()
		}
	}
	return render(c, http.StatusOK, p)
}

// deadLetters counts the dead letters by reason and family and lists the
// newest that the filter selects.
func (p *consolePage) deadLetters(ctx context.Context, store *deadletter.Store) error {
	all, err := store.List(ctx, deadletter.Filter{})
	if err != nil {
		return err
	}
	reasons, families := map[string]int{}, map[string]int{}
	for _, l := range all {
		reasons[l.Reason]++
		families[l.Family]++
		if (p.Reason == "" || l.Reason == p.Reason) && (p.Family == "" || l.Family == p.Family) {
			p.Letters = append(p.Letters, l)
		}
	}
	p.ByReason, p.ByFamily = counts(reasons), counts(families)
	slices.Reverse(p.Letters)
	p.Letters = p.Letters[:min(len(p.Letters), 200)]
	p.Filter = strings.TrimSpace(strings.Join([]string{p.Reason, p.Family}, " "))
	return nil
}

func counts(m map[string]int) []count {
	var out []count
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, count{k, m[k]})
	}
	slices.SortStableFunc(out, func(a, b count) int { return cmp.Compare(b.N, a.N) })
	return out
}

func render(c echo.Context, status int, p consolePage) error {
	h := c.Response().Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	c.Response().WriteHeader(status)
	return consoleTmpl.Execute(c.Response(), p)
}
