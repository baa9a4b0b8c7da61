// Command vocals-bench-peer is the bridge a user who did not find this
// project would assemble from Watermill: watermill-http's subscriber, which
// answers a request once its message is acked (200) or nacked (500), a
// router handler that decodes the callback, and watermill-nats' JetStream
// publisher with the message id taken from task and stage. No signature
// check, no event envelope, no spool, no metrics, no logging. It is a
// module of its own so Watermill stays out of the bridge's go.mod.
//
//	vocals-bench-peer <listen addr> <nats url> <subject prefix>
//
// It answers on /callbacks/vocals and expects the stream to exist.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"

	"github.com/ThreeDotsLabs/watermill"
	wmhttp "github.com/ThreeDotsLabs/watermill-http/v2/pkg/http"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
)

func main() {
	if len(os.Args) != 4 {
		log.Fatal("usage: vocals-bench-peer <listen addr> <nats url> <subject prefix>")
	}
	addr, natsURL, prefix := os.Args[1], os.Args[2], os.Args[3]
	logger := watermill.NopLogger{}

	sub, err := wmhttp.NewSubscriber(addr, wmhttp.SubscriberConfig{}, logger)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := wmnats.NewPublisher(wmnats.PublisherConfig{
		URL:       natsURL,
		JetStream: wmnats.JetStreamConfig{TrackMsgId: true},
	}, logger)
	if err != nil {
		log.Fatal(err)
	}
	router, err := message.NewRouter(message.RouterConfig{}, logger)
	if err != nil {
		log.Fatal(err)
	}
	router.AddConsumerHandler("callbacks", "/callbacks/vocals", sub, func(msg *message.Message) error {
		var cb struct {
			Code int `json:"code"`
			Data struct {
				CallbackType string `json:"callbackType"`
				TaskID       string `json:"task_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(msg.Payload, &cb); err != nil || cb.Data.TaskID == "" {
			// A malformed body is no retry's business: answer 400.
			wmhttp.SetResponseStatusCode(msg, http.StatusBadRequest)
			return nil
		}
		stage := cb.Data.CallbackType
		if cb.Code != 200 {
			stage = "error"
		}
		out := message.NewMessage(cb.Data.TaskID+"/"+stage, msg.Payload)
		return pub.Publish(prefix+"."+cb.Data.TaskID+"."+stage, out)
	})
	go func() {
		<-router.Running()
		if err := sub.StartHTTPServer(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	if err := router.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}
