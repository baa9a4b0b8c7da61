package consumer_test

import (
	"context"
	"testing"
	"time"

	cejs "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/nats-io/nats.go"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// The CloudEvents sdk-go NATS JetStream protocol binding, a client nobody
// here wrote, receives the bridge's events in both content modes and reads
// back events equal to what the bridge built.
func TestSDKJetStreamBindingReceivesEvents(t *testing.T) {
	for _, mode := range []string{event.Structured, event.Binary} {
		t.Run(mode, func(t *testing.T) {
			_, nc, built := setup(t, mode)
			c, err := cejs.NewConsumerFromConn(nc, "VOCALS", "vocals.>", nil, []nats.SubOpt{nats.DeliverAll(), nats.AckExplicit()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			go func() { _ = c.OpenInbound(ctx) }()
			for _, want := range built {
				msg, err := c.Receive(ctx)
				if err != nil {
					t.Fatalf("receive: %v", err)
				}
				got, err := binding.ToEvent(ctx, msg)
				if err != nil {
					t.Fatalf("the SDK could not read the event: %v", err)
				}
				_ = msg.Finish(nil)
				if err := got.Validate(); err != nil {
					t.Errorf("SDK event invalid: %v", err)
				}
				exp, err := consumer.Decode(want.Subject, nats.Header{"Content-Type": {event.ContentType}}, want.Body)
				if err != nil {
					t.Fatal(err)
				}
				if got.String() != exp.CloudEvent.String() {
					t.Errorf("SDK read\n%s\nwant\n%s", got, exp.CloudEvent)
				}
			}
		})
	}
}
