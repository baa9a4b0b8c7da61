package archive

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Policy is where media may come from and what it may cost.
type Policy struct {
	// Names are the allowed host names, lower-case; "*.example.com"
	// allows every subdomain of example.com. A name must be served over
	// https and resolve to public addresses.
	Names []string
	// Nets are addresses allowed although not public (loopback, private,
	// link-local), and hosts allowed by address, which may use http.
	Nets []netip.Prefix
	// MaxBytes bounds one file.
	MaxBytes int64
}

// Reasons a file is not kept, as the archived event and the metrics name
// them.
const (
	ReasonHostNotAllowed    = "host_not_allowed"    // not on the allow-list, or not https
	ReasonAddressNotAllowed = "address_not_allowed" // resolved to a loopback, private or link-local address not listed
	ReasonTooLarge          = "too_large"           // over archive_max_object_bytes
	ReasonTaskTooLarge      = "task_too_large"      // over archive_max_task_bytes with the task's other files
	ReasonContentType       = "content_type"        // not the media's kind, or encoded
	ReasonHTTPStatus        = "http_status"         // an answer other than 200
	ReasonTimeout           = "timeout"             // slower than archive_timeout
	ReasonNetwork           = "network"             // connection or DNS failure
	ReasonExpired           = "expired"             // still failing when the provider's retention ran out
)

// Error is a download that failed: why (Reason), and whether trying again
// could help (not Permanent).
type Error struct {
	Reason    string
	Permanent bool
	Err       error
}

func (e *Error) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func refuse(reason string, format string, args ...any) *Error {
	return &Error{Reason: reason, Permanent: true, Err: fmt.Errorf(format, args...)}
}

// Fetcher downloads media under a Policy: every URL, redirects included,
// is checked against the allow-list, every connection against the
// addresses it may reach after DNS resolution; no proxy is used, nothing
// is decompressed, and the size and content type are checked before a
// byte is kept.
type Fetcher struct {
	p      Policy
	client *http.Client
}

// maxRedirects bounds the redirects one download follows.
const maxRedirects = 5

// NewFetcher returns a Fetcher for p.
func NewFetcher(p Policy) *Fetcher {
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: p.control}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the address check
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     true,
	}
	f := &Fetcher{p: p}
	f.client = &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return refuse(ReasonHTTPStatus, "more than %d redirects", maxRedirects)
		}
		return p.allowedURL(req.URL)
	}}
	return f
}

// allowedURL checks a URL's scheme and host against the allow-list.
func (p Policy) allowedURL(u *url.URL) error {
	host := strings.ToLower(u.Hostname())
	if u.Scheme != "https" && u.Scheme != "http" {
		return refuse(ReasonHostNotAllowed, "scheme %q", u.Scheme)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !p.listed(a) {
			return refuse(ReasonHostNotAllowed, "address %s is not on archive_allowed_hosts", a)
		}
		return nil
	}
	if u.Scheme != "https" {
		return refuse(ReasonHostNotAllowed, "%s: a host listed by name must be served over https", host)
	}
	for _, n := range p.Names {
		if n == host || (strings.HasPrefix(n, "*.") && strings.HasSuffix(host, n[1:])) {
			return nil
		}
	}
	return refuse(ReasonHostNotAllowed, "host %q is not on archive_allowed_hosts", host)
}

// listed reports whether a is one of the allowed addresses.
func (p Policy) listed(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.Nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// cgnat is the shared address space (RFC 6598), not public either.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// control runs for every connection after DNS resolution, redirects
// included: an address that is not public must be listed.
func (p Policy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return refuse(ReasonAddressNotAllowed, "dialling %q", address)
	}
	a := ap.Addr().Unmap()
	public := a.IsGlobalUnicast() && !a.IsPrivate() && !cgnat.Contains(a)
	if !public && !p.listed(a) {
		return refuse(ReasonAddressNotAllowed, "%s is not a public address and not on archive_allowed_hosts", a)
	}
	return nil
}

// Download is an open file: its checked content type and a body that
// fails once it grows past the size limit.
type Download struct {
	ContentType string
	Body        io.Reader
	close       func() error
}

// Close releases the connection.
func (d *Download) Close() error { return d.close() }

// Open starts downloading rawURL, a file of kind (event.MediaAudio, ...).
// Errors are *Error.
func (f *Fetcher) Open(ctx context.Context, rawURL, kind string) (*Download, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, refuse(ReasonHostNotAllowed, "not a URL: %v", err)
	}
	if err := f.p.allowedURL(u); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, refuse(ReasonHostNotAllowed, "%v", err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, classify(ctx, err)
	}
	d, err := f.check(ctx, resp, kind)
	if err != nil {
		_ = resp.Body.Close()
		return nil, err
	}
	return d, nil
}

// check turns an answer into a Download, or says why it is not one.
func (f *Fetcher) check(ctx context.Context, resp *http.Response, kind string) (*Download, error) {
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return nil, &Error{Reason: ReasonHTTPStatus, Err: fmt.Errorf("answered %s", resp.Status)}
	default: // gone, forbidden, a redirect not followed: asking again will not help
		return nil, refuse(ReasonHTTPStatus, "answered %s", resp.Status)
	}
	if enc := resp.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
		return nil, refuse(ReasonContentType, "Content-Encoding %q: nothing is decompressed", enc)
	}
	if resp.ContentLength > f.p.MaxBytes {
		return nil, refuse(ReasonTooLarge, "%d bytes, the limit is %d", resp.ContentLength, f.p.MaxBytes)
	}
	br := bufio.NewReaderSize(resp.Body, 512)
	head, err := br.Peek(512) // fewer, with io.EOF, for a short body
	if err != nil && err != io.EOF {
		return nil, classify(ctx, err)
	}
	ct, err := contentType(resp.Header.Get("Content-Type"), head, kind)
	if err != nil {
		return nil, err
	}
	return &Download{ContentType: ct, Body: &limited{r: br, left: f.p.MaxBytes}, close: resp.Body.Close}, nil
}

// contentType is the file's type if it is of kind: the declared type when
// it is kind/*, unless the bytes are text (an error page); the sniffed
// type when the declaration says nothing (absent, octet-stream).
func contentType(declared string, head []byte, kind string) (string, error) {
	mt, _, err := mime.ParseMediaType(declared)
	if declared == "" || err != nil {
		mt = "application/octet-stream"
	}
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	switch {
	case strings.HasPrefix(mt, kind+"/") && !strings.HasPrefix(sniffed, "text/"):
		return mt, nil
	case mt == "application/octet-stream" && strings.HasPrefix(sniffed, kind+"/"):
		return sniffed, nil
	}
	return "", refuse(ReasonContentType, "declared %q, looks like %q: not %s", declared, sniffed, kind)
}

// limited fails a read past its limit, so a body longer than it declared
// is cut off, not kept.
type limited struct {
	r    io.Reader
	left int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, errTooLarge
	}
	return n, err
}

var errTooLarge = refuse(ReasonTooLarge, "the body is larger than archive_max_object_bytes")

// classify names a failed request: a refusal of the policy as it is,
// else a timeout or a network failure (worth trying again).
func classify(ctx context.Context, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return &Error{Reason: ReasonTimeout, Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Reason: ReasonTimeout, Err: err}
	}
	return &Error{Reason: ReasonNetwork, Err: err}
}
