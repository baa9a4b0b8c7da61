package httpapi_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/httpapi"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := map[string]struct {
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		"no proxy":                  {"192.0.2.1:5000", nil, trusted, "192.0.2.1"},
		"untrusted peer, xff":       {"192.0.2.1:5000", []string{"198.51.100.9"}, trusted, "192.0.2.1"},
		"no trusted list, xff":      {"10.0.0.5:5000", []string{"198.51.100.9"}, nil, "10.0.0.5"},
		"trusted peer":              {"10.0.0.5:5000", []string{"198.51.100.9"}, trusted, "198.51.100.9"},
		"two trusted hops":          {"10.0.0.5:5000", []string{"198.51.100.9, 10.1.1.1"}, trusted, "198.51.100.9"},
		"client spoofs the left":    {"10.0.0.5:5000", []string{"1.2.3.4, 198.51.100.9"}, trusted, "198.51.100.9"},
		"several headers":           {"10.0.0.5:5000", []string{"1.2.3.4", "198.51.100.9"}, trusted, "198.51.100.9"},
		"garbage stops the walk":    {"10.0.0.5:5000", []string{"198.51.100.9, junk"}, trusted, "10.0.0.5"},
		"only trusted hops":         {"10.0.0.5:5000", []string{"10.2.2.2"}, trusted, "10.2.2.2"},
		"ipv6 peer":                 {"[::1]:5000", []string{"2001:db8::1"}, trusted, "2001:db8::1"},
		"ipv4-mapped ipv6 unmapped": {"[::ffff:192.0.2.1]:5000", nil, trusted, "192.0.2.1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := httpapi.ClientIP(r, tc.trusted); got.String() != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
