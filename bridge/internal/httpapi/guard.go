package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/metrics"
)

// GuardConfig are the abuse limits in front of the callback route.
type GuardConfig struct {
	// Allowed source networks; empty allows every source.
	Allowed []netip.Prefix
	// TrustedProxies may set X-Forwarded-For; the client is the first
	// address, from the right, that is not one of them.
	TrustedProxies []netip.Prefix
	// RateLimit is requests per second per client address (0: no limit),
	// with bursts of RateBurst.
	RateLimit float64
	RateBurst int
	// MaxInFlight caps callbacks being handled at once.
	MaxInFlight int
	RetryAfter  time.Duration
}

// guard refuses, before the body is read: sources outside the allow-list
// (403), clients over their rate (429), and requests past the in-flight
// cap (503). Each answer carries a reason and is counted.
func guard(cfg GuardConfig, m *metrics.Metrics) echo.MiddlewareFunc {
	limiters := newLimiters(cfg.RateLimit, cfg.RateBurst)
	var inFlight chan struct{}
	if cfg.MaxInFlight > 0 {
		inFlight = make(chan struct{}, cfg.MaxInFlight)
	}
	retryAfter := strconv.Itoa(max(1, int(cfg.RetryAfter.Seconds())))
	refuse := func(c echo.Context, status int, reason, msg string) error {
		m.CallbacksRejected.WithLabelValues(reason).Inc()
		m.CallbacksReceived.WithLabelValues(metrics.StageUnknown, metrics.OutcomeRejected).Inc()
		if status != http.StatusForbidden {
			c.Response().Header().Set("Retry-After", retryAfter)
		}
		return c.JSON(status, errorBody(reason, msg))
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ip := ClientIP(c.Request(), cfg.TrustedProxies)
			if len(cfg.Allowed) > 0 && !contains(cfg.Allowed, ip) {
				return refuse(c, http.StatusForbidden, "ip", "source address not allowed")
			}
			if limiters != nil && !limiters.allow(ip, time.Now()) {
				return refuse(c, http.StatusTooManyRequests, "rate", "too many requests from this address")
			}
			if inFlight != nil {
				select {
				case inFlight <- struct{}{}:
					defer func() { <-inFlight }()
				default:
					return refuse(c, http.StatusServiceUnavailable, "overloaded", "too many callbacks in flight")
				}
			}
			return next(c)
		}
	}
}

// ClientIP is the request's source: the peer address, or, when the peer is
// a trusted proxy, the last X-Forwarded-For entry that is not.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if len(trusted) == 0 || !contains(trusted, peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer // a malformed chain is not trusted past this point
		}
		if a = a.Unmap(); !contains(trusted, a) {
			return a
		}
		peer = a
	}
	return peer
}

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// limiters holds one token bucket per client address, forgetting idle ones.
type limiters struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	byIP    map[netip.Addr]*limiterEntry
	swept   time.Time
	maxIdle time.Duration
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiters(perSecond float64, burst int) *limiters {
	if perSecond <= 0 {
		return nil
	}
	return &limiters{limit: rate.Limit(perSecond), burst: burst, byIP: make(map[netip.Addr]*limiterEntry), maxIdle: 5 * time.Minute}
}

func (l *limiters) allow(ip netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, e := range l.byIP {
			if now.Sub(e.seen) > l.maxIdle {
				delete(l.byIP, k)
			}
		}
		l.swept = now
	}
	e, ok := l.byIP[ip]
	if !ok {
		e = &limiterEntry{lim: rate.NewLimiter(l.limit, l.burst)}
		l.byIP[ip] = e
	}
	e.seen = now
	return e.lim.AllowN(now, 1)
}
