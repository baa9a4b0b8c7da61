package httpapi

import (
	"net/http"
	"net/netip"
)

// ClientIP is the source address the public listener sees in r.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	return addr(clientIPs(trusted)(r))
}
