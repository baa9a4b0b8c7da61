// Package natstest starts real JetStream servers for tests: the same
// embedded server the bridge runs, on a random loopback port with its store
// in the test's temporary directory.
package natstest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natsembed"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/publish"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/track"
)

// Server is a running test server.
type Server struct {
	*natsembed.Server
	URL string
}

// Start starts a JetStream server that stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartIn(t, t.TempDir())
}

// StartIn starts a server on an existing store directory. It stops when
// the test ends, unless stopped before. Its port is below the ephemeral
// range (FreePort), so that StartAt can bring it back on the same port: a
// port the kernel hands out may be some connection's by then.
func StartIn(t testing.TB, storeDir string) *Server {
	t.Helper()
	var err error
	for range 10 { // another test process may bind the same port first
		var s *Server
		if s, err = start(t, storeDir, fmt.Sprintf("127.0.0.1:%d", FreePort(t))); err == nil {
			return s
		}
	}
	t.Fatalf("starting nats: %v", err)
	return nil
}

// StartAt starts a server on storeDir listening at url's host and port, so
// a stopped server can come back where its clients reconnect to.
func StartAt(t testing.TB, storeDir, url string) *Server {
	t.Helper()
	s, err := start(t, storeDir, strings.TrimPrefix(url, "nats://"))
	if err != nil {
		t.Fatalf("starting nats: %v", err)
	}
	return s
}

func start(t testing.TB, storeDir, addr string) (*Server, error) {
	s, err := natsembed.Start(natsembed.Options{StoreDir: storeDir, ListenAddr: addr},
		Logger(t).WithOptions(zap.IncreaseLevel(zap.InfoLevel)).Named("nats"))
	if err != nil {
		return nil, err
	}
	t.Cleanup(s.Shutdown)
	return &Server{Server: s, URL: s.ClientURL()}, nil
}

// FreePort is a loopback port for a process started later (a port it must
// know before it listens). It comes from below the kernel's ephemeral range
// (ip_local_port_range), never one handed out before in this run: a port
// from that range, released here, could be taken meanwhile as the local
// port of any outgoing connection, and the process would not start
// (seen in CI: "bind: address already in use"). Other test processes pick
// from the same range at random, so a caller that binds should still try
// another port if the bind fails.
func FreePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	low := 32768
	if raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(raw)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	for range 1000 {
		port := 10000 + rand.IntN(low-10000)
		if portsGiven[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[port] = true
		return port
	}
	t.Fatal("no free loopback port below the ephemeral range")
	return 0
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// Connect opens a client connection that closes when the test ends.
func (s *Server) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(s.URL, nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("connecting to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// Messages returns every message stored in stream on subjects matching
// filter, in stream order. It reads with direct get, so it needs no consumer
// and leaves the stream unchanged.
func Messages(t testing.TB, js jetstream.JetStream, stream, filter string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted or expired
		}
		if filter == "" || subjectMatches(filter, m.Subject) {
			out = append(out, m)
		}
	}
	return out
}

// subjectMatches applies NATS wildcard rules ("*" one token, ">" the rest).
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

// Tracking sets the server up as the bridge does with tracking on: the
// stream VOCALS capturing vocals.>, vocals_tasks.> and every other
// family's <family>.> and <family>_tasks.>, a structured-mode
// publisher on it, and the task bucket TASKS with its index running until
// the test ends.
func (s *Server) Tracking(t testing.TB) (*publish.JetStream, *track.Store) {
	t.Helper()
	nc, _ := s.Connect(t)
	pub, err := publish.NewJetStream(nc, "VOCALS", event.Structured, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	spec := publish.StreamSpec{Name: "VOCALS", SubjectPrefix: "vocals",
		TaskSubjectPrefix: "vocals_tasks", Replicas: 1, MaxAge: time.Hour, Duplicates: time.Minute}
	for _, f := range event.Families()[1:] {
		spec.MorePrefixes = append(spec.MorePrefixes, string(f), event.TaskPrefix(string(f)))
	}
	if err := publish.EnsureStream(ctx, pub.JS(), spec); err != nil {
		t.Fatal(err)
	}
	store, err := track.Open(ctx, pub.JS(), track.BucketSpec{Name: "TASKS", Replicas: 1, TTL: time.Hour}, Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); store.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return pub, store
}

// Logger logs to t like zaptest's logger, but goes quiet once t's cleanups
// start: a NATS connection's callbacks run on their own goroutine after
// Close, and logging through t after the test ended is a data race.
func Logger(t testing.TB) *zap.Logger {
	w := &quietAfter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), w, zap.DebugLevel))
}

type quietAfter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *quietAfter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Logf("%s", strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *quietAfter) Sync() error { return nil }
