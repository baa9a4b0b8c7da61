// Command vocals-bridge receives the Suno API's callbacks, of every family, over HTTP and
// publishes each as a CloudEvent to NATS JetStream. See README.md.
//
//	vocals-bridge [--config FILE] [--<key> VALUE ...]   run the bridge
//	vocals-bridge tail [--stages complete,error] ...    follow the events
//	vocals-bridge probe [URL]                           healthcheck (exit 0 on 200)
//	vocals-bridge version | help
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/app"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/config"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/tail"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	var err error
	cmd := ""
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	switch {
	case cmd == "version" || cmd == "--version":
		fmt.Println("vocals-bridge", version)
	case cmd == "help":
		_, _, err = config.Load([]string{"--help"}, nil, os.Stdout)
	case cmd == "probe" && len(os.Args) > 2 && strings.HasPrefix(os.Args[2], "-"):
		fmt.Print("usage: vocals-bridge probe [URL]\n  GET URL (default: /readyz on the admin_addr the bridge's VOCALS_BRIDGE_* variables give);\n  exit 0 on 200 within 3 s, else 1\n")
	case cmd == "probe":
		// A container healthcheck: the runtime image has no shell or curl.
		url := readyzURL(os.Environ())
		if len(os.Args) > 2 {
			url = os.Args[2]
		}
		err = probe(url)
	case len(os.Args) > 1 && os.Args[1] == "tail":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		err = tail.Run(ctx, os.Args[2:], os.Environ(), os.Stdout, os.Stderr)
		stop()
	default:
		err = run()
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vocals-bridge:", err)
		os.Exit(1)
	}
}

// defaultGOGC is the garbage collector's target when GOGC is not set: the
// bridge keeps a small live heap and nearly everything it allocates is
// per-request garbage, so at Go's 100 it collected several times a second
// under load. GOMEMLIMIT (the Helm chart sets it) still caps the heap.
const defaultGOGC = 400

// defaultMemoryLimit is the runtime's soft memory limit when GOMEMLIMIT is
// not set. GOGC=400 lets the heap grow to five times what is live; near
// this limit the collector runs sooner instead, so a burst of large
// bodies costs collections, not a peak that depends on when the last one
// ran. The Helm chart sets GOMEMLIMIT to the container's limit.
const defaultMemoryLimit = 192 << 20

func run() error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGOGC)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	cfg, warnings, err := config.Load(os.Args[1:], os.Environ(), os.Stderr)
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

// readyzURL is /readyz on the admin listener the bridge's variables name,
// reached on loopback when it binds every interface.
func readyzURL(environ []string) string {
	cfg, _, _ := config.Load(nil, environ, io.Discard)
	host, port, err := net.SplitHostPort(cfg.AdminAddr)
	if err != nil {
		host, port = "127.0.0.1", "8081"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz"
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

// newLogger builds the zap logger. There is no sampling: every callback
// gets its line. JSON logs go through a 256 KiB buffer flushed every half
// second, which saves a write syscall per callback; a kill -9 can lose that
// last half second of log lines, never an event.
func newLogger(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	if format == "console" {
		zc := zap.NewDevelopmentConfig()
		zc.Level = zap.NewAtomicLevelAt(lvl)
		// Stack traces for errors only: the development default puts one
		// under every warning.
		return zc.Build(zap.AddStacktrace(zapcore.ErrorLevel))
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	out := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(os.Stderr), Size: 256 << 10, FlushInterval: 500 * time.Millisecond}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), out, lvl)
	// No caller annotation: finding it walks the stack on every line, which
	// cost 2% of the CPU under load; messages and logger names are unique.
	return zap.New(core, zap.AddStacktrace(zapcore.ErrorLevel)), nil
}
