// Package adminctl implements the operator commands that ask a running
// bridge through its admin API: "vocals-bridge inspect <task_id>" (what
// happened to a task) and "vocals-bridge deadletters list|show|redrive".
// The bridge answers them, since it holds the pipeline a redrive runs
// through and the spool; the commands find it as probe does.
package adminctl

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/config"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/deadletter"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/httpapi"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/story"
)

// client is one command's flags and the admin API it talks to.
type client struct {
	fs         *flag.FlagSet
	name       string
	file       *string
	admin      *string
	token      *string
	raw        *bool
	http       http.Client
	positional []string
}

func newClient(name string) *client {
	c := &client{fs: flag.NewFlagSet("vocals-bridge "+name, flag.ContinueOnError), name: name, http: http.Client{Timeout: 2 * time.Minute}}
	c.fs.SetOutput(io.Discard)
	c.file = c.fs.String("config", "", "the bridge's YAML configuration file, for where its admin listener is")
	c.admin = c.fs.String("admin", "", "the admin listener's URL (default: from admin_addr, on loopback)")
	c.token = c.fs.String("admin-token", "", "the admin token (default: the bridge's admin_token)")
	c.raw = c.fs.Bool("json", false, "print the API's JSON answer")
	return c
}

// parse reads flags wherever they stand among the positional arguments,
// then the bridge's configuration for what the flags leave open.
func (c *client) parse(args, environ []string, out io.Writer, usage string) error {
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(out, usage)
				c.fs.SetOutput(out)
				c.fs.PrintDefaults()
				return err
			}
			var names []string
			c.fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
			return fmt.Errorf("%s: %w", c.name, config.FlagError(err, names, `"vocals-bridge `+c.name+` --help" lists the flags`))
		}
		if c.fs.NArg() == 0 {
			break
		}
		c.positional = append(c.positional, c.fs.Arg(0))
		args = c.fs.Args()[1:]
	}
	var cfgArgs []string
	if *c.file != "" {
		cfgArgs = []string{"--config", *c.file}
	}
	// A bridge setting these commands do not use may be invalid here.
	cfg, _, err := config.Load(cfgArgs, environ, io.Discard)
	var cfgErr *config.Error
	if err != nil && !errors.As(err, &cfgErr) {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	if *c.admin == "" {
		*c.admin = cfg.AdminURL()
	}
	if *c.token == "" {
		*c.token = cfg.AdminToken
	}
	return nil
}

// call sends a request to the admin API and decodes its JSON answer into
// v; with --json, raw (when not nil) receives the answer as it came too.
func (c *client) call(ctx context.Context, method, path string, body any, v any, raw io.Writer) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(*c.admin, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if *c.token != "" {
		req.Header.Set(httpapi.AdminTokenHeader, *c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: is the bridge running? %w", c.name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e httpapi.ErrorBody
		_ = json.Unmarshal(b, &e)
		return fmt.Errorf("%s: %s answered %s: %s", c.name, req.URL.Redacted(), resp.Status, e.Error)
	}
	if raw != nil && *c.raw {
		if _, err := raw.Write(b); err != nil {
			return err
		}
	}
	return json.Unmarshal(b, v)
}

const inspectUsage = `usage: vocals-bridge inspect [flags] <task_id>
  what the bridge knows of a task, in every family: its tracking, its
  events in the stream, the dead letters that name it and what of it waits
  in the spool (of the replica asked)
`

// Inspect is "vocals-bridge inspect <task_id>".
func Inspect(ctx context.Context, args, environ []string, out io.Writer) error {
	c := newClient("inspect")
	if err := c.parse(args, environ, out, inspectUsage); err != nil {
		return err
	}
	if len(c.positional) != 1 {
		return errors.New(`inspect: name one task id; "vocals-bridge inspect --help" says more`)
	}
	var s story.Story
	if err := c.call(ctx, http.MethodGet, "/api/tasks/"+url.PathEscape(c.positional[0]), nil, &s, out); err != nil || *c.raw {
		return err
	}
	s.WriteText(out)
	return nil
}

const deadLettersUsage = `usage: vocals-bridge deadletters list|show|redrive [flags] [seq ...]
  list              the dead letters the filters select, oldest first
  show <seq>        one dead letter, with its headers and body
  redrive [seq ...] run dead letters (these, or those the filters select)
                    through today's pipeline; the stream keeps each event once
`

// filter is the flags that select dead letters.
type filter struct {
	reason, family, task, since, until *string
	limit                              *int
	dryRun                             *bool
}

// DeadLetters is "vocals-bridge deadletters list|show|redrive".
func DeadLetters(ctx context.Context, args, environ []string, out io.Writer) error {
	c := newClient("deadletters")
	f := filter{
		reason: c.fs.String("reason", "", "only this refusal reason (e.g. signature, family_disabled)"),
		family: c.fs.String("family", "", "only this family"),
		task:   c.fs.String("task", "", "only this task id"),
		since:  c.fs.String("since", "", "only those received at or after this time (RFC 3339)"),
		until:  c.fs.String("until", "", "only those received at or before this time (RFC 3339)"),
		limit:  c.fs.Int("limit", 0, "list at most this many (default 1000)"),
		dryRun: c.fs.Bool("dry-run", false, "redrive: say what would be redriven, change nothing"),
	}
	if err := c.parse(args, environ, out, deadLettersUsage); err != nil {
		return err
	}
	if len(c.positional) == 0 {
		return errors.New(`deadletters: say list, show or redrive; "vocals-bridge deadletters --help" says more`)
	}
	verb, rest := c.positional[0], c.positional[1:]
	var seqs []uint64
	for _, a := range rest {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return fmt.Errorf("deadletters: %q is not a dead letter's sequence number", a)
		}
		seqs = append(seqs, n)
	}
	switch verb {
	case "list":
		return c.list(ctx, f, out)
	case "show":
		if len(seqs) != 1 {
			return errors.New("deadletters: show takes one sequence number")
		}
		return c.show(ctx, seqs[0], out)
	case "redrive":
		return c.redrive(ctx, f, seqs, out)
	}
	return fmt.Errorf("deadletters: unknown command %q%s; the commands are list, show, redrive", verb, config.Suggest(verb, []string{"list", "show", "redrive"}, "", ""))
}

func (c *client) list(ctx context.Context, f filter, out io.Writer) error {
	q := url.Values{}
	for k, v := range map[string]string{"reason": *f.reason, "family": *f.family, "task": *f.task, "since": *f.since, "until": *f.until} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *f.limit > 0 {
		q.Set("limit", strconv.Itoa(*f.limit))
	}
	var ans struct {
		DeadLetters []deadletter.Letter `json:"dead_letters"`
	}
	if err := c.call(ctx, http.MethodGet, "/api/deadletters?"+q.Encode(), nil, &ans, out); err != nil || *c.raw {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tRECEIVED\tREASON\tFAMILY\tTASK\tBYTES\tREDRIVEN\tERROR")
	for _, l := range ans.DeadLetters {
		redriven := "-"
		if l.Redriven != nil {
			redriven = l.Redriven.Outcome
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", l.Seq, l.ReceivedAt.UTC().Format(time.RFC3339), l.Reason, l.Family,
			cmp.Or(l.TaskID, "-"), l.BodySize, redriven, l.Error)
	}
	return tw.Flush()
}

func (c *client) show(ctx context.Context, seq uint64, out io.Writer) error {
	var l deadletter.Letter
	if err := c.call(ctx, http.MethodGet, "/api/deadletters/"+strconv.FormatUint(seq, 10), nil, &l, out); err != nil || *c.raw {
		return err
	}
	fmt.Fprintf(out, "seq %d  %s\nreceived %s  reason %s  family %s  task %s\nerror: %s\nrequest id %s  content type %s  %d bytes (truncated: %t)\n",
		l.Seq, l.Subject, l.ReceivedAt.UTC().Format(time.RFC3339Nano), l.Reason, l.Family, cmp.Or(l.TaskID, "-"), l.Error,
		l.RequestID, l.ContentType, l.BodySize, l.Truncated)
	if l.Redriven != nil {
		fmt.Fprintf(out, "redriven %s at %s: event %s on %s\n", l.Redriven.Outcome, l.Redriven.At.Format(time.RFC3339), l.Redriven.EventID, l.Redriven.Subject)
	}
	for k, vs := range l.Header {
		fmt.Fprintf(out, "%s: %s\n", k, strings.Join(vs, ", "))
	}
	fmt.Fprintf(out, "\n%s\n", l.Body)
	return nil
}

// redrive asks the bridge to redrive seqs, or what the filter selects, and
// fails when any of them is not in the stream afterwards.
func (c *client) redrive(ctx context.Context, f filter, seqs []uint64, out io.Writer) error {
	req := httpapi.RedriveRequest{Seqs: seqs, Reason: *f.reason, Family: *f.family, TaskID: *f.task, DryRun: *f.dryRun}
	var err error
	if req.Since, err = deadletter.ParseTime(*f.since); err == nil {
		req.Until, err = deadletter.ParseTime(*f.until)
	}
	if err != nil {
		return fmt.Errorf("deadletters: %w", err)
	}
	if len(seqs) == 0 && req.Reason == "" && req.Family == "" && req.TaskID == "" && req.Since.IsZero() && req.Until.IsZero() {
		return errors.New("deadletters: redrive takes sequence numbers or at least one filter (--reason, --family, --task, --since, --until)")
	}
	// A page at a time (the bridge answers at most MaxRedrivePage at once),
	// each page after the last one's end.
	left, total := 0, 0
	for more := true; more; {
		page := req
		if len(seqs) > 0 {
			n := min(len(seqs), httpapi.MaxRedrivePage)
			page.Seqs, seqs = seqs[:n], seqs[n:]
			more = len(seqs) > 0
		}
		var ans struct {
			Results []httpapi.Redriven `json:"results"`
		}
		if err := c.call(ctx, http.MethodPost, "/api/deadletters/redrive", page, &ans, out); err != nil {
			return err
		}
		if len(page.Seqs) == 0 {
			more = len(ans.Results) == httpapi.MaxRedrivePage
			if more {
				req.After = ans.Results[len(ans.Results)-1].Seq
			}
		}
		total += len(ans.Results)
		for _, r := range ans.Results {
			if !r.Stored() && r.Outcome != httpapi.RedriveAlready && r.Outcome != httpapi.RedriveWould {
				left++
			}
			if *c.raw {
				continue
			}
			fmt.Fprintf(out, "%d: %s", r.Seq, r.Outcome)
			if r.Subject != "" {
				fmt.Fprintf(out, " %s (event %s)", r.Subject, r.EventID)
			}
			if r.Reason != "" {
				fmt.Fprintf(out, ": %s: %s", r.Reason, r.Detail)
			}
			fmt.Fprintln(out)
		}
	}
	if total == 0 && !*c.raw {
		fmt.Fprintln(out, "no dead letter matches")
	}
	if left > 0 {
		return fmt.Errorf("deadletters: %d of %d were not redriven, and stay", left, total)
	}
	return nil
}
