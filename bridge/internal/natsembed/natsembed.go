// Package natsembed runs a JetStream-enabled nats-server inside the bridge
// process, so the bridge works on a fresh machine with nothing else
// installed. Tests use the same server.
package natsembed

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// MaxPayload is the embedded server's message size limit. The default 1 MiB
// would refuse an event built from a callback near the 1 MiB body limit.
const MaxPayload = 8 << 20

// Options configure the embedded server.
type Options struct {
	// StoreDir holds the JetStream file store.
	StoreDir string
	// ListenAddr is the loopback host:port where NATS clients (the nats CLI)
	// may connect; port 0 picks a free one. Empty means no listener: the
	// bridge then reaches the server only in-process.
	ListenAddr string
	// Name is the server name; it must be stable across restarts of a store.
	Name string
	// SyncAlways makes the server fsync every stored message before it
	// acknowledges it (sync_interval: always), so a 200 survives a power
	// cut; without it the server fsyncs every two minutes.
	SyncAlways bool
	// SyncInterval, without SyncAlways, is how often the server fsyncs its
	// store (0: the server's default, two minutes).
	SyncInterval time.Duration
}

// Server is a running embedded server.
type Server struct {
	srv *server.Server
}

// Start starts the server and waits until it accepts connections.
func Start(opts Options, log *zap.Logger) (*Server, error) {
	name := opts.Name
	if name == "" {
		name = "vocals-bridge-embedded"
	}
	so := &server.Options{
		ServerName:   name,
		JetStream:    true,
		StoreDir:     opts.StoreDir,
		MaxPayload:   MaxPayload,
		NoSigs:       true,
		DontListen:   opts.ListenAddr == "",
		SyncAlways:   opts.SyncAlways,
		SyncInterval: opts.SyncInterval,
	}
	if opts.ListenAddr != "" {
		host, port, err := net.SplitHostPort(opts.ListenAddr)
		if err != nil {
			return nil, fmt.Errorf("natsembed: listen address %q: %w", opts.ListenAddr, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("natsembed: listen port %q: %w", port, err)
		}
		if p == 0 {
			p = server.RANDOM_PORT // nats-server reads 0 as "default 4222"
		} else if l, err := net.Listen("tcp", opts.ListenAddr); err != nil {
			// The server would only log it, and time out below.
			return nil, fmt.Errorf("natsembed: listening on %s: %w", opts.ListenAddr, err)
		} else {
			l.Close()
		}
		so.Host, so.Port = host, p
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	srv.SetLoggerV2(zapLogger{log.Sugar()}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("natsembed: server not ready after 10s (is %s in use, or %s not writable?)", opts.ListenAddr, opts.StoreDir)
	}
	return &Server{srv: srv}, nil
}

// ConnectOption makes a nats connection reach the server: through its
// loopback listener when it has one, else in-process. The listener is
// preferred because the in-process connection is a net.Pipe, which hands
// every write to the server's goroutine synchronously: at concurrency 64 it
// cost about 8% more CPU per callback than loopback TCP.
func (s *Server) ConnectOption() nats.Option {
	if url := s.ClientURL(); url != "" {
		return func(o *nats.Options) error {
			o.Url, o.Servers = url, []string{url}
			return nil
		}
	}
	return nats.InProcessServer(s.srv)
}

// ClientURL is the loopback URL of the listener, or "" when there is none.
func (s *Server) ClientURL() string {
	if s.srv.Addr() == nil {
		return ""
	}
	return s.srv.ClientURL()
}

// Shutdown stops the server and waits until it has flushed and closed its store.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

// zapLogger adapts zap to nats-server's logger. The server's notices (its
// start-up banner among them) are Debug: the bridge logs its own lifecycle.
type zapLogger struct{ s *zap.SugaredLogger }

func (l zapLogger) Noticef(f string, v ...any) { l.s.Debugf("nats-server: "+f, v...) }
func (l zapLogger) Warnf(f string, v ...any)   { l.s.Warnf("nats-server: "+f, v...) }
func (l zapLogger) Fatalf(f string, v ...any)  { l.s.Errorf("nats-server: "+f, v...) }
func (l zapLogger) Errorf(f string, v ...any)  { l.s.Errorf("nats-server: "+f, v...) }
func (l zapLogger) Debugf(f string, v ...any)  { l.s.Debugf("nats-server: "+f, v...) }
func (l zapLogger) Tracef(f string, v ...any)  { l.s.Debugf("nats-server: "+f, v...) }
