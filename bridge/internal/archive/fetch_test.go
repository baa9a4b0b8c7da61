package archive

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

func TestAllowedURL(t *testing.T) {
	p := Policy{Names: []string{"cdn.example.com", "*.media.example"}, Nets: loopback}
	for _, tt := range []struct {
		url, reason string
	}{
		{"https://cdn.example.com/a.mp3", ""},
		{"https://CDN.example.com:8443/a.mp3", ""},
		{"https://a.b.media.example/a.mp3", ""},
		{"https://media.example/a.mp3", ReasonHostNotAllowed}, // *. is for subdomains
		{"https://evilmedia.example/a.mp3", ReasonHostNotAllowed},
		{"http://cdn.example.com/a.mp3", ReasonHostNotAllowed}, // a name needs https
		{"ftp://cdn.example.com/a.mp3", ReasonHostNotAllowed},
		{"https://other.example/a.mp3", ReasonHostNotAllowed},
		{"http://127.0.0.1:8080/a.mp3", ""}, // listed by address: http too
		{"http://127.0.0.2/a.mp3", ReasonHostNotAllowed},
		{"http://[::1]/a.mp3", ReasonHostNotAllowed},
		{"http://10.0.0.1/a.mp3", ReasonHostNotAllowed},
	} {
		t.Run(tt.url, func(t *testing.T) {
			u, _ := url.Parse(tt.url)
			assertReason(t, p.allowedURL(u), tt.reason, true)
		})
	}
}

func TestControlRefusesAddressesThatAreNotPublic(t *testing.T) {
	p := Policy{Nets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	for _, tt := range []struct {
		addr   string
		reason string
	}{
		{"93.184.216.34:443", ""},
		{"[2606:2800:220:1:248:1893:25c8:1946]:443", ""},
		{"10.1.2.3:443", ""}, // listed
		{"10.2.0.1:443", ReasonAddressNotAllowed},
		{"127.0.0.1:443", ReasonAddressNotAllowed},
		{"[::1]:443", ReasonAddressNotAllowed},
		{"[::ffff:127.0.0.1]:443", ReasonAddressNotAllowed},
		{"169.254.169.254:80", ReasonAddressNotAllowed}, // cloud metadata
		{"[fe80::1]:443", ReasonAddressNotAllowed},
		{"192.168.1.1:443", ReasonAddressNotAllowed},
		{"172.16.0.1:443", ReasonAddressNotAllowed},
		{"100.64.0.1:443", ReasonAddressNotAllowed},
		{"[fd00::1]:443", ReasonAddressNotAllowed},
		{"0.0.0.0:443", ReasonAddressNotAllowed},
		{"224.0.0.1:443", ReasonAddressNotAllowed},
	} {
		t.Run(tt.addr, func(t *testing.T) {
			assertReason(t, p.control("tcp", tt.addr, nil), tt.reason, true)
		})
	}
}

func assertReason(t *testing.T, err error, reason string, permanent bool) {
	t.Helper()
	if reason == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Reason != reason || e.Permanent != permanent {
		t.Fatalf("got %v, want %s (permanent %v)", err, reason, permanent)
	}
}

// mp3 starts like an MP3 file with an ID3 tag, which is what the
// content sniffer recognises.
var mp3 = append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), make([]byte, 1000)...)

func TestOpen(t *testing.T) {
	mux := http.NewServeMux()
	serve := func(path, ct string, body []byte) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if ct != "" {
				w.Header().Set("Content-Type", ct)
			}
			_, _ = w.Write(body)
		})
	}
	serve("/ok.mp3", "audio/mpeg", mp3)
	serve("/untyped.mp3", "application/octet-stream", mp3)
	serve("/page.mp3", "audio/mpeg", []byte("<!DOCTYPE html><html>gone</html>"))
	serve("/page.html", "text/html", []byte("<html></html>"))
	serve("/untyped.bin", "application/octet-stream", make([]byte, 100))
	serve("/image.mp3", "image/png", mp3)
	mux.HandleFunc("/big.mp3", func(w http.ResponseWriter, r *http.Request) { // declares its length
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Header().Set("Content-Length", "5000")
		_, _ = w.Write(append(mp3, make([]byte, 4000-len(mp3))...))
	})
	mux.HandleFunc("/chunked.mp3", func(w http.ResponseWriter, r *http.Request) { // does not
		w.Header().Set("Content-Type", "audio/mpeg")
		for range 5 {
			_, _ = w.Write(mp3)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/gzip.mp3", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(mp3)
	})
	mux.HandleFunc("/gone.mp3", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusNotFound) })
	mux.HandleFunc("/busy.mp3", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) })
	mux.HandleFunc("/slow.mp3", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // never finishes
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	mux.HandleFunc("/to-localhost.mp3", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://localhost"+port+"/ok.mp3", http.StatusFound)
	})
	mux.HandleFunc("/to-ok.mp3", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok.mp3", http.StatusFound)
	})
	f := NewFetcher(Policy{Nets: loopback, MaxBytes: 3000})
	for _, tt := range []struct {
		path, kind, reason string
		permanent          bool
		contentType        string
		size               int
	}{
		{"/ok.mp3", "audio", "", false, "audio/mpeg", len(mp3)},
		{"/to-ok.mp3", "audio", "", false, "audio/mpeg", len(mp3)},
		{"/untyped.mp3", "audio", "", false, "audio/mpeg", len(mp3)},
		{"/page.mp3", "audio", ReasonContentType, true, "", 0},
		{"/page.html", "audio", ReasonContentType, true, "", 0},
		{"/untyped.bin", "audio", ReasonContentType, true, "", 0},
		{"/image.mp3", "audio", ReasonContentType, true, "", 0},
		{"/gzip.mp3", "audio", ReasonContentType, true, "", 0},
		{"/big.mp3", "audio", ReasonTooLarge, true, "", 0},
		{"/chunked.mp3", "audio", ReasonTooLarge, true, "audio/mpeg", 0},
		{"/gone.mp3", "audio", ReasonHTTPStatus, true, "", 0},
		{"/busy.mp3", "audio", ReasonHTTPStatus, false, "", 0},
		{"/to-localhost.mp3", "audio", ReasonHostNotAllowed, true, "", 0},
		{"/slow.mp3", "audio", ReasonTimeout, false, "audio/mpeg", 0},
	} {
		t.Run(tt.path, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			d, err := f.Open(ctx, srv.URL+tt.path, tt.kind)
			if err == nil {
				defer d.Close()
				if d.ContentType != tt.contentType {
					t.Errorf("content type %q, want %q", d.ContentType, tt.contentType)
				}
				var n int64
				n, err = io.Copy(io.Discard, d.Body)
				if err == nil && n != int64(tt.size) {
					t.Errorf("read %d bytes, want %d", n, tt.size)
				}
				if err != nil {
					err = classify(ctx, err)
				}
			}
			assertReason(t, err, tt.reason, tt.permanent)
		})
	}
}

// A host listed by name is refused when it resolves to an address that is
// not public: the check is on the address dialled, after DNS.
func TestNameResolvingToLoopbackIsRefused(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the request reached the server")
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	f := NewFetcher(Policy{Names: []string{"localhost"}, MaxBytes: 1 << 20})
	_, err := f.Open(context.Background(), "https://localhost"+port+"/a.mp3", "audio")
	assertReason(t, err, ReasonAddressNotAllowed, true)
}
