package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deadletter"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/story"
)

// AdminTokenHeader carries admin_token on every /api/ request.
const AdminTokenHeader = "Vocals-Admin-Token"

// AdminAPI is what /api/ on the admin listener answers from: a task's
// story, the dead letters and their redrive.
type AdminAPI struct {
	Story       func(ctx context.Context, taskID string) (story.Story, error)
	DeadLetters *deadletter.Store // nil: dead letters are off
	Redrive     func(ctx context.Context, l deadletter.Letter, dryRun bool) Redriven
	// Glance, if set, is the console's line about the bridge as a whole.
	Glance func(ctx context.Context) Glance
	// Token, when set, must come in AdminTokenHeader (or the console's
	// cookie); without one only loopback clients may use the API and the
	// console (a port-forward or exec is one).
	Token string
}

// RedriveRequest selects the dead letters to redrive: by sequence, or by
// a filter, a page at a time: at most Limit (default and most
// MaxRedrivePage) after the sequence After, oldest first.
type RedriveRequest struct {
	Seqs   []uint64  `json:"seqs,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Family string    `json:"family,omitempty"`
	TaskID string    `json:"task_id,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	Until  time.Time `json:"until,omitzero"`
	After  uint64    `json:"after,omitempty"`
	Limit  int       `json:"limit,omitempty"`
	DryRun bool      `json:"dry_run,omitempty"`
}

// MaxRedrivePage bounds one redrive request, so that its answer comes
// well within the admin listener's write_timeout; a client pages with
// After for more.
const MaxRedrivePage = 100

func (a *AdminAPI) routes(e *echo.Echo) {
	g := e.Group("/api", a.guard)
	g.GET("/tasks/:id", func(c echo.Context) error {
		s, err := a.Story(c.Request().Context(), c.Param("id"))
		if errors.Is(err, story.ErrBadTaskID) {
			return c.JSON(http.StatusBadRequest, errorBody("invalid_task_id", err.Error()))
		}
		if err != nil {
			return c.JSON(http.StatusServiceUnavailable, errorBody("unavailable", err.Error()))
		}
		return c.JSON(http.StatusOK, s)
	})
	g.GET("/deadletters", func(c echo.Context) error {
		if a.DeadLetters == nil {
			return c.JSON(http.StatusNotFound, errorBody("deadletters_off", "dead letters are off (deadletter_enabled)"))
		}
		f := deadletter.Filter{Reason: c.QueryParam("reason"), Family: c.QueryParam("family"), TaskID: c.QueryParam("task")}
		var err error
		if f.Since, err = deadletter.ParseTime(c.QueryParam("since")); err == nil {
			f.Until, err = deadletter.ParseTime(c.QueryParam("until"))
		}
		if err == nil && c.QueryParam("limit") != "" {
			f.Limit, err = strconv.Atoi(c.QueryParam("limit"))
		}
		if err != nil {
			return c.JSON(http.StatusBadRequest, errorBody("bad_filter", err.Error()))
		}
		list, err := a.DeadLetters.List(c.Request().Context(), f)
		if err != nil {
			return c.JSON(http.StatusServiceUnavailable, errorBody("unavailable", err.Error()))
		}
		return c.JSON(http.StatusOK, map[string]any{"dead_letters": nonNil(list)})
	})
	g.GET("/deadletters/:seq", func(c echo.Context) error {
		if a.DeadLetters == nil {
			return c.JSON(http.StatusNotFound, errorBody("deadletters_off", "dead letters are off (deadletter_enabled)"))
		}
		seq, err := strconv.ParseUint(c.Param("seq"), 10, 64)
		if err != nil {
			return c.JSON(http.StatusBadRequest, errorBody("bad_seq", "a dead letter is named by its sequence number"))
		}
		l, err := a.DeadLetters.Get(c.Request().Context(), seq)
		switch {
		case errors.Is(err, deadletter.ErrNotFound):
			return c.JSON(http.StatusNotFound, errorBody("not_found", err.Error()))
		case err != nil:
			return c.JSON(http.StatusServiceUnavailable, errorBody("unavailable", err.Error()))
		}
		return c.JSON(http.StatusOK, l)
	})
	g.POST("/deadletters/redrive", a.redrive)
	a.consoleRoutes(e)
}

// redrive runs the selected dead letters through the pipeline, in order,
// and marks each one whose event is now stored.
func (a *AdminAPI) redrive(c echo.Context) error {
	// JSON only: a browser cannot send it across sites without asking.
	if !jsonType(c.Request().Header.Get("Content-Type")) {
		return c.JSON(http.StatusUnsupportedMediaType, errorBody("unsupported_media_type", "Content-Type must be application/json"))
	}
	if a.DeadLetters == nil {
		return c.JSON(http.StatusNotFound, errorBody("deadletters_off", "dead letters are off (deadletter_enabled)"))
	}
	var req RedriveRequest
	if err := c.Bind(&req); err != nil {
		return c.JSON(http.StatusBadRequest, errorBody("bad_request", err.Error()))
	}
	results, err := a.runRedrive(c.Request().Context(), req)
	if err != nil {
		return c.JSON(http.StatusServiceUnavailable, errorBody("unavailable", err.Error()))
	}
	return c.JSON(http.StatusOK, map[string]any{"results": results})
}

// runRedrive redrives what req selects, in order, and marks each dead
// letter whose event is now stored.
func (a *AdminAPI) runRedrive(ctx context.Context, req RedriveRequest) ([]Redriven, error) {
	// A client that leaves does not cut a page short: what it started is
	// carried through and marked.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	seqs := req.Seqs[:min(len(req.Seqs), MaxRedrivePage)]
	if len(seqs) == 0 {
		limit := MaxRedrivePage
		if req.Limit > 0 {
			limit = min(req.Limit, MaxRedrivePage)
		}
		list, err := a.DeadLetters.List(ctx, deadletter.Filter{Reason: req.Reason, Family: req.Family, TaskID: req.TaskID,
			Since: req.Since, Until: req.Until, After: req.After, Limit: limit})
		if err != nil {
			return nil, err
		}
		for _, l := range list {
			seqs = append(seqs, l.Seq)
		}
	}
	results := []Redriven{}
	for _, seq := range seqs {
		l, err := a.DeadLetters.Get(ctx, seq)
		if errors.Is(err, deadletter.ErrNotFound) {
			results = append(results, Redriven{Seq: seq, Outcome: RedriveNotRedrivable, Reason: "not_found", Detail: err.Error()})
			continue
		}
		if err != nil {
			return results, err
		}
		r := a.Redrive(ctx, l, req.DryRun)
		if r.Stored() {
			err := a.DeadLetters.Mark(ctx, seq, deadletter.Redrive{Outcome: r.Outcome, EventID: r.EventID, Subject: r.Subject, At: time.Now().UTC()})
			if err != nil {
				r.Detail = "the event is stored, but the dead letter could not be marked: " + err.Error()
			}
		}
		results = append(results, r)
	}
	return results, nil
}

// crossOrigin refuses a state-changing request a browser sends from
// another site (a form on a page that targets the console).
var crossOrigin = http.NewCrossOriginProtection()

// guard lets a request through with the admin token (in its header, or
// the console's cookie), or, when there is none, from a loopback peer
// (never by a forwarding header); a browser's cross-site POST never.
func (a *AdminAPI) guard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := crossOrigin.Check(c.Request()); err != nil {
			return c.JSON(http.StatusForbidden, errorBody("cross_origin", err.Error()))
		}
		if a.Token != "" {
			got := c.Request().Header.Get(AdminTokenHeader)
			if ck, err := c.Cookie(adminCookie); err == nil && got == "" {
				got = ck.Value
			}
			if !equalToken(got, a.Token) {
				if c.Request().Method == http.MethodGet && c.Path() == consolePath {
					return a.login(c, "")
				}
				return c.JSON(http.StatusUnauthorized, errorBody("admin_token", "missing or wrong "+AdminTokenHeader+" header"))
			}
			return next(c)
		}
		host, _, _ := net.SplitHostPort(c.Request().RemoteAddr)
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Unmap().IsLoopback() {
			return c.JSON(http.StatusForbidden, errorBody("admin_token", "the admin API answers loopback clients only unless admin_token is set"))
		}
		return next(c)
	}
}

// equalToken compares in constant time.
func equalToken(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
