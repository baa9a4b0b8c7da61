package sunosim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Fault is what goes wrong with one simulated task. The zero Fault is a
// task that succeeds and delivers every callback once.
type Fault struct {
	Never     bool            // never call back (record-info still progresses)
	Drop      map[string]bool // stages whose callbacks are not sent
	Skip      bool            // go straight to complete: no text or first
	Duplicate bool            // deliver every callback twice
	Late      time.Duration   // send each callback this long (unscaled) after its stage
	Fail      int             // fail after text with this code (400, 408, 413, 500, 501, 531)
	Stuck     bool            // stay PENDING forever, never call back
	PollErr   int             // answer the task's first PollErr record-info requests with 500
}

// ParseFault reads a comma-separated fault list:
//
//	never | skip | duplicate | stuck | drop=text+first | late=2s | fail=531 | pollerr=2
//
// The empty string is no fault.
func ParseFault(s string) (Fault, error) {
	var f Fault
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, val, hasVal := strings.Cut(item, "=")
		var err error
		switch name {
		case "never":
			f.Never = true
		case "skip":
			f.Skip = true
		case "duplicate":
			f.Duplicate = true
		case "stuck":
			f.Stuck = true
		case "drop":
			f.Drop = map[string]bool{}
			for _, st := range strings.Split(val, "+") {
				if !knownStage(st) {
					return Fault{}, fmt.Errorf("sunosim: fault %q: unknown stage %q", item, st)
				}
				f.Drop[st] = true
			}
		case "late":
			f.Late, err = time.ParseDuration(val)
		case "fail":
			f.Fail, err = strconv.Atoi(val)
			if err == nil && (f.Fail < 300 || f.Fail > 599) {
				err = fmt.Errorf("code must be a failure code such as 531")
			}
		case "pollerr":
			f.PollErr, err = strconv.Atoi(val)
		default:
			return Fault{}, fmt.Errorf("sunosim: unknown fault %q", item)
		}
		if err == nil && hasVal != (name == "drop" || name == "late" || name == "fail" || name == "pollerr") {
			err = fmt.Errorf("unexpected or missing value")
		}
		if err != nil {
			return Fault{}, fmt.Errorf("sunosim: fault %q: %v", item, err)
		}
	}
	return f, nil
}

func knownStage(s string) bool {
	switch s {
	case "text", "first", "complete", "error":
		return true
	}
	return false
}
