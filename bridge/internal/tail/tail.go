// Package tail implements "vocals-bridge tail": follow chosen stages of the
// event stream and print each event on one readable line, for operators.
package tail

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/config"
)

// options are tail's flags, completed from the bridge's configuration.
type options struct {
	url, stream string
	filters     []string
	all, raw    bool
	max         int
	more        bool // --follow
}

// Run parses args (the words after "tail") and prints events to out until
// ctx ends or --max events were printed. Where the events are (the NATS
// servers, the stream, the subject prefix) comes from the bridge's own
// configuration, read as the bridge reads it (--config FILE, then the
// VOCALS_BRIDGE_* variables in environ), unless a flag says otherwise.
func Run(ctx context.Context, args, environ []string, out, errOut io.Writer) error {
	o, err := parse(args, environ, out)
	if err != nil {
		return err
	}
	return o.follow(ctx, out, errOut)
}

// parse reads the flags and the bridge's configuration into options: the
// server, the stream and the subject filters of the chosen families,
// stages and task.
func parse(args, environ []string, out io.Writer) (*options, error) {
	fs := flag.NewFlagSet("vocals-bridge tail", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; --help goes to out
	file := fs.String("config", "", "the bridge's YAML configuration file, for where its events are")
	url := fs.String("nats-url", "", "NATS server(s), comma-separated (default: the bridge's nats_url, or its embedded server)")
	stream := fs.String("stream", "", "stream name (default: the bridge's stream)")
	prefix := fs.String("subject-prefix", "", "add-vocals subject prefix (default: the bridge's subject_prefix)")
	families := fs.String("families", "", "comma-separated families to show (vocals, generate, lyrics, ...); empty for every family the bridge has on")
	stages := fs.String("stages", "", "comma-separated stages to show (text, first, complete, error, timeout, archived); empty for all")
	task := fs.String("task", "", "show only this task id")
	o := &options{}
	fs.BoolVar(&o.all, "all", false, "start from the oldest stored event instead of new ones")
	fs.BoolVar(&o.raw, "json", false, "print each event as its JSON CloudEvent")
	fs.IntVar(&o.max, "max", 0, "exit after this many events (0: follow forever); with --all, also once the stored events are printed")
	fs.BoolVar(&o.more, "follow", false, "with --all and --max: after the stored events, wait for new ones until --max were printed")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(out, "usage: vocals-bridge tail [flags]\n  follow the bridge's events, one line each")
			fs.SetOutput(out)
			fs.PrintDefaults()
			return nil, err
		}
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		return nil, fmt.Errorf("tail: %w", config.FlagError(err, names, `"vocals-bridge tail --help" lists the flags`))
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("tail: unexpected argument %q; \"vocals-bridge tail --help\" lists the flags", fs.Arg(0))
	}
	var cfgArgs []string
	if *file != "" {
		cfgArgs = []string{"--config", *file}
	}
	// A bridge setting this command does not use may be invalid here; what
	// it needs is read all the same.
	bridge, _, err := config.Load(cfgArgs, environ, io.Discard)
	var cfgErr *config.Error
	if err != nil && !errors.As(err, &cfgErr) {
		return nil, fmt.Errorf("tail: %w", err)
	}
	o.url = cmp.Or(*url, bridge.NATSURL, "nats://"+cmp.Or(bridge.EmbeddedNATSAddr, config.Default().EmbeddedNATSAddr))
	o.stream = cmp.Or(*stream, bridge.Stream)

	var show []event.Stage
	for _, st := range config.SplitList(*stages) {
		if !validStage(st) {
			return nil, fmt.Errorf("tail: unknown stage %q", st)
		}
		show = append(show, event.Stage(st))
	}
	var fams []event.Family
	for _, f := range config.SplitList(*families) {
		if !event.Family(f).Known() {
			return nil, fmt.Errorf("tail: unknown family %q", f)
		}
		fams = append(fams, event.Family(f))
	}
	if len(fams) == 0 {
		for _, f := range bridge.Families() {
			fams = append(fams, f.Name)
		}
	}
	prefixes := bridge.Prefixes()
	prefixes[event.FamilyVocals] = cmp.Or(*prefix, bridge.SubjectPrefix)
	taskToken := cmp.Or(*task, "*")
	for _, f := range fams {
		if len(show) == 0 {
			o.filters = append(o.filters, prefixes[f]+"."+taskToken+".*")
			continue
		}
		for _, st := range show {
			if f.Publishes(st) {
				o.filters = append(o.filters, prefixes[f]+"."+taskToken+"."+string(st))
			}
		}
	}
	if len(o.filters) == 0 {
		return nil, errors.New("tail: none of the families has any of the stages")
	}
	return o, nil
}

// follow prints the events the options select until ctx ends or --max.
func (o *options) follow(ctx context.Context, out, errOut io.Writer) error {
	nc, err := nats.Connect(o.url, nats.Name("vocals-bridge tail"))
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: o.filters, DeliverPolicy: jetstream.DeliverNewPolicy}
	if o.all {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	c, err := js.OrderedConsumer(ctx, o.stream, cfg)
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	// With --all and --max (and no --follow), stop at the end of what is
	// stored, however few events that is.
	toEnd := o.all && o.max > 0 && !o.more
	fetch := jetstream.FetchContext(ctx)
	if toEnd {
		fetch = jetstream.FetchMaxWait(time.Second)
	}
	n := 0
	for o.max == 0 || n < o.max {
		msg, err := c.Next(fetch)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
				return fmt.Errorf("tail: %w", err)
			}
			if info, err := c.Info(ctx); toEnd && err == nil && info.NumPending == 0 {
				break
			}
			continue
		}
		e, err := consumer.Decode(msg.Subject(), msg.Headers(), msg.Data())
		switch {
		case err != nil:
			fmt.Fprintf(out, "%s  (not a vocals event: %s)\n", clean(msg.Subject()), clean(err.Error()))
		case o.raw:
			b, _ := e.CloudEvent.MarshalJSON()
			fmt.Fprintln(out, string(b))
		default:
			fmt.Fprintln(out, Line(e))
		}
		n++
		if meta, err := msg.Metadata(); toEnd && err == nil && meta.NumPending == 0 {
			break
		}
	}
	if toEnd && n < o.max {
		fmt.Fprintf(errOut, "tail: %d stored %s, fewer than --max %d (--follow waits for more)\n", n, plural(n, "event"), o.max)
	}
	return nil
}

func validStage(s string) bool {
	for _, st := range append(event.Stages(), event.StageTimeout, event.StageArchived) {
		if string(st) == s {
			return true
		}
	}
	return false
}

// Line renders an event for a terminal: time, family, stage, task, code,
// origin, then what the stage is about (tracks, lyrics, URLs, or the
// failure). Values from the event never bring a control character to
// the terminal (clean; %q escapes them).
func Line(e consumer.Event) string {
	var b strings.Builder
	c := e.Common()
	fmt.Fprintf(&b, "%s  %-16s  %-8s  %s", e.CloudEvent.Time().UTC().Format(time.RFC3339), e.Family, e.Stage, clean(c.TaskID))
	if e.Stage != event.StageArchived { // the archiver's report has no code and no origin
		fmt.Fprintf(&b, "  code=%d  from %s", c.Code, clean(string(e.Origin())))
	}
	if f, ok := e.Failure(); ok {
		fmt.Fprintf(&b, " (%s) %q", clean(f.Reason), f.Msg)
		return b.String()
	}
	// What the stage is about, whatever the family: its data type says.
	if r, ok := e.Payload.(event.Result); ok {
		for _, it := range r.Items() {
			b.WriteString("\n    " + clean(it))
		}
	}
	return b.String()
}

// clean replaces every control character (C0, DEL, C1: what a terminal
// would act on) with U+FFFD, so event data cannot rewrite the screen.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

// plural is word, with an "s" unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
