package archive

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// What a media host sends back (a URL to follow, a Content-Type, the first
// bytes) is untrusted: the checks never panic, a URL they allow names a
// listed host, and a content type they allow is of the kind asked for.
func FuzzPolicy(f *testing.F) {
	f.Add("https://cdn.example.com/a.mp3", "audio/mpeg", []byte("ID3\x04"), "audio")
	f.Add("http://127.0.0.1:8080/x", "application/octet-stream", []byte("\x89PNG\r\n\x1a\n"), "image")
	f.Add("https://a.b.media.example/v.mp4", "video/mp4; codecs=avc1", []byte("\x00\x00\x00\x18ftypmp42"), "video")
	f.Add("https://evil.example@cdn.example.com/", "text/html", []byte("<html>"), "audio")
	f.Add("https://[::ffff:127.0.0.1]/", "", []byte{}, "audio")
	p := Policy{Names: []string{"cdn.example.com", "*.media.example"}, Nets: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, MaxBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, rawURL, declared string, head []byte, kind string) {
		if u, err := url.Parse(rawURL); err == nil && p.allowedURL(u) == nil {
			host := strings.ToLower(u.Hostname())
			a, aerr := netip.ParseAddr(host)
			listed := aerr == nil && p.listed(a) || host == "cdn.example.com" || strings.HasSuffix(host, ".media.example")
			if !listed {
				t.Fatalf("%q allowed: host %q is not listed", rawURL, host)
			}
			if aerr != nil && u.Scheme != "https" {
				t.Fatalf("%q allowed over %s", rawURL, u.Scheme)
			}
		}
		if ct, err := contentType(declared, head, kind); err == nil && !strings.HasPrefix(ct, kind+"/") {
			t.Fatalf("%q (declared %q) allowed as %s", ct, declared, kind)
		}
	})
}
