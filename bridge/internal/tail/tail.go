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

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/config"
)

// Run parses args (the words after "tail") and prints events to out until
// ctx ends or --max events were printed. Where the events are (the NATS
// servers, the stream, the subject prefix) comes from the bridge's own
// configuration, read as the bridge reads it (--config FILE, then the
// VOCALS_BRIDGE_* variables in environ), unless a flag says otherwise.
func Run(ctx context.Context, args, environ []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("vocals-bridge tail", flag.ContinueOnError)
	fs.SetOutput(errOut)
	file := fs.String("config", "", "the bridge's YAML configuration file, for where its events are")
	url := fs.String("nats-url", "", "NATS server(s), comma-separated (default: the bridge's nats_url, or its embedded server)")
	stream := fs.String("stream", "", "stream name (default: the bridge's stream)")
	prefix := fs.String("subject-prefix", "", "subject prefix (default: the bridge's subject_prefix)")
	stages := fs.String("stages", "", "comma-separated stages to show (text, first, complete, error); empty for all")
	task := fs.String("task", "", "show only this task id")
	all := fs.Bool("all", false, "start from the oldest stored event instead of new ones")
	raw := fs.Bool("json", false, "print each event as its JSON CloudEvent")
	max := fs.Int("max", 0, "exit after this many events (0: follow forever)")
	if err := fs.Parse(args); err != nil {
		return err
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
		return fmt.Errorf("tail: %w", err)
	}
	if *url == "" {
		*url = bridge.NATSURL
		if *url == "" {
			*url = "nats://" + cmp.Or(bridge.EmbeddedNATSAddr, config.DefaultEmbeddedNATSAddr)
		}
	}
	*stream, *prefix = cmp.Or(*stream, bridge.Stream), cmp.Or(*prefix, bridge.SubjectPrefix)

	taskToken := "*"
	if *task != "" {
		taskToken = *task
	}
	var filters []string
	for _, st := range strings.Split(*stages, ",") {
		if st = strings.TrimSpace(st); st == "" {
			continue
		}
		if !validStage(st) {
			return fmt.Errorf("tail: unknown stage %q", st)
		}
		filters = append(filters, *prefix+"."+taskToken+"."+st)
	}
	if len(filters) == 0 {
		filters = []string{*prefix + "." + taskToken + ".*"}
	}

	nc, err := nats.Connect(*url, nats.Name("vocals-bridge tail"))
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: filters, DeliverPolicy: jetstream.DeliverNewPolicy}
	if *all {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	c, err := js.OrderedConsumer(ctx, *stream, cfg)
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	for n := 0; *max == 0 || n < *max; {
		msg, err := c.Next(jetstream.FetchContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, nats.ErrTimeout) {
				continue
			}
			return fmt.Errorf("tail: %w", err)
		}
		e, err := consumer.Decode(msg.Subject(), msg.Headers(), msg.Data())
		if err != nil {
			fmt.Fprintf(out, "%s  (not a vocals event: %v)\n", msg.Subject(), err)
			n++
			continue
		}
		if *raw {
			b, _ := e.CloudEvent.MarshalJSON()
			fmt.Fprintln(out, string(b))
		} else {
			fmt.Fprintln(out, Line(e))
		}
		n++
	}
	return nil
}

func validStage(s string) bool {
	for _, st := range event.Stages() {
		if string(st) == s {
			return true
		}
	}
	return false
}

// Line renders an event for a terminal: time, stage, task, code, origin,
// then what the stage is about (tracks, or the failure).
func Line(e consumer.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-8s  %s  code=%d  from %s", e.CloudEvent.Time().UTC().Format(time.RFC3339), e.Stage, e.Data.TaskID,
		e.Data.Code, e.Origin())
	if f, ok := e.Failure(); ok {
		fmt.Fprintf(&b, " (%s) %q", f.Reason, f.Msg)
		return b.String()
	}
	for _, t := range e.Data.Tracks {
		fmt.Fprintf(&b, "\n    %q", t.Title)
		if t.Duration != nil {
			fmt.Fprintf(&b, " %.1fs", *t.Duration)
		}
		if url := firstNonEmpty(t.AudioURL, t.StreamAudioURL); url != "" {
			fmt.Fprintf(&b, " %s", url)
		}
	}
	return b.String()
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
