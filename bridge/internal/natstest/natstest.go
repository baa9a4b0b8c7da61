// Package natstest starts real JetStream servers for tests: the same
// embedded server the bridge runs, on a random loopback port with its store
// in the test's temporary directory.
package natstest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/natsembed"
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
// the test ends, unless stopped before.
func StartIn(t testing.TB, storeDir string) *Server {
	t.Helper()
	return StartAt(t, storeDir, "nats://127.0.0.1:0")
}

// StartAt starts a server on storeDir listening at url's host and port, so
// a stopped server can come back where its clients reconnect to.
func StartAt(t testing.TB, storeDir, url string) *Server {
	t.Helper()
	s, err := natsembed.Start(natsembed.Options{StoreDir: storeDir, ListenAddr: strings.TrimPrefix(url, "nats://")},
		zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Named("nats"))
	if err != nil {
		t.Fatalf("starting nats: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return &Server{Server: s, URL: s.ClientURL()}
}

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
