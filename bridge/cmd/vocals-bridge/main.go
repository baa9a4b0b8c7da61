// Command vocals-bridge receives Suno add-vocals callbacks over HTTP and
// publishes each as a CloudEvent to NATS JetStream. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/app"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// "probe URL" answers a container healthcheck: the runtime image has no
	// shell or curl.
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		url := "http://127.0.0.1:8081/readyz"
		if len(os.Args) > 2 {
			url = os.Args[2]
		}
		if err := probe(url); err != nil {
			fmt.Fprintln(os.Stderr, "vocals-bridge probe:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "vocals-bridge:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, warnings, err := config.Load(os.Args[1:], os.Environ(), os.Stderr)
	if errors.Is(err, config.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	for _, w := range warnings {
		log.Warn("configuration", zap.String("warning", w))
	}
	log.Info("starting", zap.String("version", version))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, log, version)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// probe succeeds when url answers 200 within 3 seconds.
func probe(url string) error {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

func newLogger(level, format string) (*zap.Logger, error) {
	var zc zap.Config
	if format == "console" {
		zc = zap.NewDevelopmentConfig()
	} else {
		zc = zap.NewProductionConfig()
		zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	return zc.Build()
}
