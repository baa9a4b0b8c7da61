package httpapi

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certReloader serves a certificate from files and picks up new files
// (a renewed certificate, a rotated Kubernetes secret) without a restart.
// It looks at the files at most once a second; a pair that fails to load
// keeps the previous one in service.
type certReloader struct {
	certFile, keyFile string

	mu       sync.Mutex
	cur      *tls.Certificate
	certMod  time.Time
	keyMod   time.Time
	checked  time.Time
	interval time.Duration
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, interval: time.Second}
	if err := r.reload(); err != nil {
		return nil, fmt.Errorf("httpapi: tls: %w", err)
	}
	return r, nil
}

func (r *certReloader) reload() error {
	ci, err := os.Stat(r.certFile)
	if err != nil {
		return err
	}
	ki, err := os.Stat(r.keyFile)
	if err != nil {
		return err
	}
	if r.cur != nil && ci.ModTime().Equal(r.certMod) && ki.ModTime().Equal(r.keyMod) {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return err
	}
	r.cur, r.certMod, r.keyMod = &pair, ci.ModTime(), ki.ModTime()
	return nil
}

// GetCertificate implements tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= r.interval {
		r.checked = now
		_ = r.reload() // on failure the previous pair stays in service
	}
	return r.cur, nil
}
