// Command stagewatch is an example consumer: it waits for complete events
// and prints the tracks' audio URLs. Several copies with the same --durable
// share the work.
//
//	go run ./bridge/examples/stagewatch --nats-url nats://127.0.0.1:4222
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

func main() {
	// The same NATS the bridge uses, by the bridge's own variables.
	url := flag.String("nats-url", bridgeNATS(), "NATS server(s) (default: VOCALS_BRIDGE_NATS_URL, else the embedded server at VOCALS_BRIDGE_EMBEDDED_NATS_ADDR)")
	durable := flag.String("durable", "stagewatch", "durable consumer name")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	nc, err := nats.Connect(*url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	err = consumer.Consume(ctx, js, consumer.Options{
		Durable: *durable,
		Stages:  []event.Stage{event.StageComplete},
	}, func(_ context.Context, e consumer.Event) error {
		printTracks(os.Stdout, e)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}

// printTracks writes one line per track of a complete event.
func printTracks(w io.Writer, e consumer.Event) {
	for _, t := range e.Data.Tracks {
		fmt.Fprintf(w, "%s\t%s\t%s\n", e.Data.TaskID, t.Title, t.AudioURL)
	}
}

// bridgeNATS is where a bridge configured by this environment publishes:
// VOCALS_BRIDGE_NATS_URL, else its embedded server's address.
func bridgeNATS() string {
	if url := os.Getenv("VOCALS_BRIDGE_NATS_URL"); url != "" {
		return url
	}
	return "nats://" + cmp.Or(os.Getenv("VOCALS_BRIDGE_EMBEDDED_NATS_ADDR"), "127.0.0.1:4222")
}
