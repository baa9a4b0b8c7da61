// Command vocals-bridge receives the Suno API's callbacks, of every family, over HTTP and
// publishes each as a CloudEvent to NATS JetStream. See README.md.
//
//	vocals-bridge [--config FILE] [--<key> VALUE ...]   run the bridge
//	vocals-bridge tail [--stages complete,error] ...    follow the events
//	vocals-bridge probe [--config FILE] [URL]           healthcheck (exit 0 on 200)
//	vocals-bridge inspect <task_id>                     what happened to a task
//	vocals-bridge deadletters list|show|redrive         recover refused callbacks
//	vocals-bridge version | help
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/adminctl"
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
	case cmd == "probe":
		err = probeCommand(os.Args[2:], os.Environ(), os.Stdout)
	case cmd == "inspect" || cmd == "deadletters":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		if cmd == "inspect" {
			err = adminctl.Inspect(ctx, os.Args[2:], os.Environ(), os.Stdout)
		} else {
			err = adminctl.DeadLetters(ctx, os.Args[2:], os.Environ(), os.Stdout)
		}
		stop()
	case cmd == "tail":
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
	cfg, warnings, err := config.Load(os.Args[1:], os.Environ(), os.Stdout)
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

const probeUsage = `usage: vocals-bridge probe [--config FILE] [--<setting> VALUE ...] [URL]
  GET URL (default: /readyz on the admin_addr that the bridge's --config
  file, VOCALS_BRIDGE_* variables and flags give); exit 0 when it answers
  200 within 3 s, else 1
`

// probeCommand is a container healthcheck (the runtime image has no shell
// or curl): it reads the configuration as the bridge does, asks /readyz
// and says what it heard in one line.
func probeCommand(args, environ []string, stdout io.Writer) error {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fmt.Fprint(stdout, probeUsage)
			return flag.ErrHelp
		}
	}
	cfg, rest, _, err := config.Parse(args, environ, io.Discard)
	// A setting the probe does not use may be invalid; it needs only
	// admin_addr, which must parse.
	var cfgErr *config.Error
	if err != nil && (!errors.As(err, &cfgErr) || cfgErr.Key == "admin_addr") {
		return fmt.Errorf("probe: %w", err)
	}
	if len(rest) > 1 {
		return fmt.Errorf("probe: unexpected argument %q; %s", rest[1], "usage: vocals-bridge probe [--config FILE] [URL]")
	}
	url := cfg.AdminURL() + "/readyz"
	if len(rest) == 1 {
		url = rest[0]
	}
	line, err := probe(url)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	fmt.Fprintln(stdout, line)
	return nil
}

// probe succeeds when url answers 200 within 3 seconds, and returns a line
// saying so with the readiness status it reported.
func probe(url string) (string, error) {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct{ Status, Reason string }
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&r)
	said := strings.TrimSpace(strings.Join([]string{r.Status, r.Reason}, " "))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %s %s", url, resp.Status, said)
	}
	return strings.TrimSpace(fmt.Sprintf("ok: %s answered %s %s", url, resp.Status, said)), nil
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
