package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Timeouts protect a listener against slow clients.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// TLSFiles name a certificate and key to serve HTTPS with; reloaded when
// they change.
type TLSFiles struct{ Cert, Key string }

// Listener is a bound, not yet serving, HTTP listener.
type Listener struct {
	srv *http.Server
	ln  net.Listener
	tls bool
}

// Listen binds addr now, so that start-up fails early on a busy port and
// Addr reports the real port when addr asked for port 0. With tlsFiles it
// serves HTTPS (TLS 1.2 or later).
func Listen(addr string, h http.Handler, t Timeouts, tlsFiles *TLSFiles) (*Listener, error) {
	var tlsCfg *tls.Config
	if tlsFiles != nil {
		r, err := newCertReloader(tlsFiles.Cert, tlsFiles.Key)
		if err != nil {
			return nil, err
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("httpapi: listening on %s: %w", addr, err)
	}
	return &Listener{
		ln:  ln,
		tls: tlsCfg != nil,
		srv: &http.Server{
			TLSConfig:         tlsCfg,
			Handler:           h,
			ReadHeaderTimeout: t.ReadHeader,
			ReadTimeout:       t.Read,
			WriteTimeout:      t.Write,
			IdleTimeout:       t.Idle,
			MaxHeaderBytes:    64 << 10,
		},
	}, nil
}

// Addr is the bound address.
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// Serve serves until Shutdown; it returns nil after a clean shutdown.
func (l *Listener) Serve() error {
	serve := l.srv.Serve
	if l.tls {
		serve = func(ln net.Listener) error { return l.srv.ServeTLS(ln, "", "") }
	}
	if err := serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends. It also releases a listener that never served.
func (l *Listener) Shutdown(ctx context.Context) error {
	err := l.srv.Shutdown(ctx)
	_ = l.ln.Close()
	return err
}
