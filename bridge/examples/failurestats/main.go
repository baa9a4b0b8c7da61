// Command failurestats is an example analytics subscriber: it follows
// every family's failures (vocals.*.error, lyrics.*.error, ..., and the
// bridge's own vocals.*.timeout, ...), counts them by family and code,
// and exposes the counts as Prometheus metrics.
//
//	go run ./bridge/examples/failurestats --nats-url nats://127.0.0.1:4222 --listen :9102
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vocals-bridge/vocals-bridge/bridge/consumer"
	"github.com/vocals-bridge/vocals-bridge/bridge/event"
)

// stats counts failure events.
type stats struct {
	failures *prometheus.CounterVec
}

func newStats(reg prometheus.Registerer) *stats {
	s := &stats{failures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vocals_failures_total",
		Help: "Failed tasks, by family, provider code and its meaning.",
	}, []string{"family", "code", "reason"})}
	reg.MustRegister(s.failures)
	return s
}

// handle counts one event; it is the consumer.Handler.
func (s *stats) handle(_ context.Context, e consumer.Event) error {
	f, ok := e.Failure()
	if !ok {
		return consumer.Term(errors.New("not a failure event"))
	}
	s.failures.WithLabelValues(string(e.Family), strconv.Itoa(f.Code), f.Reason).Inc()
	return nil
}

func main() {
	// The same NATS the bridge uses, by the bridge's own variables.
	url := flag.String("nats-url", bridgeNATS(), "NATS server(s) (default: VOCALS_BRIDGE_NATS_URL, else the embedded server at VOCALS_BRIDGE_EMBEDDED_NATS_ADDR)")
	listen := flag.String("listen", ":9102", "address for /metrics")
	durable := flag.String("durable", "failurestats", "durable consumer name")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	reg := prometheus.NewRegistry()
	s := newStats(reg)
	srv := &http.Server{Addr: *listen, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	defer srv.Close()

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
		Durable:  *durable,
		Families: event.Families(),
		Stages:   []event.Stage{event.StageError, event.StageTimeout},
	}, s.handle)
	if err != nil {
		log.Fatal(err)
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
