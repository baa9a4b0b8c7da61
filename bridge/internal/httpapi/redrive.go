package httpapi

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deadletter"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deliver"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/family"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/verify"
)

// Outcomes of a redrive besides deliver's (published, duplicate, spooled).
const (
	RedriveAlready       = "already_redriven" // marked: nothing done
	RedriveRefused       = "refused"          // today's pipeline refuses it too
	RedriveNotRedrivable = "not_redrivable"   // what was kept cannot be run again
	RedriveFailed        = "failed"           // the stream and the spool were unavailable: retry
	RedriveWould         = "would_redrive"    // --dry-run: nothing stands in the way before verification
)

// Redriven is what a redrive made of one dead letter.
type Redriven struct {
	Seq     uint64 `json:"seq"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"` // why it was refused or is not redrivable
	Detail  string `json:"detail,omitempty"`
	EventID string `json:"event_id,omitempty"`
	Subject string `json:"subject,omitempty"`
	Stage   string `json:"stage,omitempty"`
}

// Stored reports whether the event is now in the stream or the spool.
func (r Redriven) Stored() bool {
	switch r.Outcome {
	case string(deliver.Published), string(deliver.Duplicate), string(deliver.Spooled):
		return true
	}
	return false
}

// Redrive runs dead letter l through today's pipeline as if it had just
// arrived on its route: today's families, limits and keys (its signature
// must verify; its timestamp may be old), the same event id, so the stream
// holds the event once however often it is redriven. With dryRun it only
// says whether anything before verification stands in the way.
func (p *Public) Redrive(ctx context.Context, l deadletter.Letter, dryRun bool) Redriven {
	out := p.redrive(ctx, l, dryRun)
	if !dryRun {
		p.h.d.Metrics.Redrives.WithLabelValues(out.Outcome).Inc()
		p.h.d.Log.Info("redrive", zap.Uint64("dead_letter", l.Seq), zap.String("family", l.Family), zap.String("task_id", l.TaskID),
			zap.String("outcome", out.Outcome), zap.String("reason", out.Reason), zap.String("event_id", out.EventID))
	}
	return out
}

func (p *Public) redrive(ctx context.Context, l deadletter.Letter, dryRun bool) Redriven {
	out := Redriven{Seq: l.Seq}
	f, ok := family.Get(event.Family(l.Family))
	switch {
	case l.Redriven != nil:
		out.Outcome, out.EventID, out.Subject = RedriveAlready, l.Redriven.EventID, l.Redriven.Subject
		return out
	case l.Truncated:
		return not(out, "truncated", fmt.Sprintf("only %d of its %d bytes were kept (deadletter_max_body)", len(l.Body), l.BodySize))
	case !ok:
		return not(out, "unknown_family", fmt.Sprintf("no family %q", l.Family))
	}
	h := p.h
	r := &request{f: f, off: !h.enabled[f.Name], start: time.Now(), body: l.Body, size: l.BodySize,
		rid: zap.String("request_id", "redrive-"+strconv.FormatUint(l.Seq, 10))}
	var err error
	switch {
	case r.off:
		err = errDisabled
	case r.size > h.d.BodyLimit:
		err = fmt.Errorf("%w of %d bytes", errTooLarge, h.d.BodyLimit)
	case !jsonType(l.ContentType):
		err = errContentType
	}
	if err == nil && dryRun {
		out.Outcome = RedriveWould
		return out
	}
	var res deliver.Result
	if err == nil {
		var m outbound.Message
		m, res, err = h.process(ctx, r, verify.Request{Header: l.Header, Route: string(f.Name), Now: r.start, Redrive: true})
		out.EventID, out.Subject, out.Stage = m.ID, m.Subject, string(r.stage)
	}
	if err != nil {
		v := verdictOf(err)
		out.Outcome, out.Reason, out.Detail = RedriveRefused, v.reason, err.Error()
		if v.kind == unavailable || v.kind == internal {
			out.Outcome = RedriveFailed
		}
	} else {
		out.Outcome = string(res.Outcome)
	}
	return out
}

func not(out Redriven, reason, detail string) Redriven {
	out.Outcome, out.Reason, out.Detail = RedriveNotRedrivable, reason, detail
	return out
}
