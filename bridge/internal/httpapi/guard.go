package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
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
	// RateLimit is how many refused (4xx) requests per second a client
	// address may make, with bursts of RateBurst (0: no limit). Accepted
	// callbacks spend nothing, so a genuine sender is never limited.
	RateLimit float64
	RateBurst int
	// MaxReadsPerSource caps the bodies one address may be sending at
	// once (0: no cap), so a slow sender holds its own slots only.
	MaxReadsPerSource int
	// MinBodyRate is the slowest average rate, in bytes per second, at
	// which a body may arrive once BodyReadGrace has passed (0: none).
	MinBodyRate   int64
	BodyReadGrace time.Duration
	// ReadTimeout is the longest a body may take in any case.
	ReadTimeout time.Duration
	// MaxInFlight caps callbacks being processed at once: decoded,
	// verified and delivered, after their bodies have arrived.
	MaxInFlight int
	RetryAfter  time.Duration
}

// gate holds the per-source and global limits of the callback route. Its
// refusals (allow-list 403, spent budget 429, busy source 429, in-flight
// 503) are *refusal errors, answered by the handler's fail.
type gate struct {
	cfg        GuardConfig
	m          *metrics.Metrics
	limiters   *limiters // nil without a rate limit
	readers    *sourceCounts
	inFlight   chan struct{}
	retryAfter string
}

func newGate(cfg GuardConfig, m *metrics.Metrics) *gate {
	g := &gate{
		cfg: cfg, m: m, limiters: newLimiters(cfg.RateLimit, cfg.RateBurst),
		readers:    &sourceCounts{max: cfg.MaxReadsPerSource, byIP: make(map[netip.Addr]int)},
		retryAfter: strconv.Itoa(max(1, int(cfg.RetryAfter.Seconds()))),
	}
	if cfg.MaxInFlight > 0 {
		g.inFlight = make(chan struct{}, cfg.MaxInFlight)
	}
	return g
}

// refusal is the gate turning a request away, before its body is read
// or before it is processed: its answer's status and reason.
type refusal struct {
	status      int
	reason, msg string
}

func (r *refusal) Error() string { return r.msg }

// admit refuses a source outside the allow-list and one whose budget for
// refused requests is spent.
func (g *gate) admit(ip netip.Addr, now time.Time) error {
	if len(g.cfg.Allowed) > 0 && !contains(g.cfg.Allowed, ip) {
		return &refusal{http.StatusForbidden, "ip", "source address not allowed"}
	}
	if g.limiters != nil && g.limiters.spent(ip, now) {
		return &refusal{http.StatusTooManyRequests, "rate", "too many refused requests from this address"}
	}
	return nil
}

// enter takes one of the in-flight slots (none without a cap); leave
// gives it back.
func (g *gate) enter() (leave func(), err error) {
	if g.inFlight == nil {
		return func() {}, nil
	}
	select {
	case g.inFlight <- struct{}{}:
		return func() { <-g.inFlight }, nil
	default:
		return nil, &refusal{http.StatusServiceUnavailable, "overloaded", "too many callbacks in flight"}
	}
}

// charge spends one unit of ip's budget for a refused request.
func (g *gate) charge(ip netip.Addr, now time.Time) {
	if g.limiters != nil {
		g.limiters.spend(ip, now)
	}
}

// sourceCounts counts what each address has going at once.
type sourceCounts struct {
	mu   sync.Mutex
	max  int
	byIP map[netip.Addr]int
}

// acquire takes one of ip's slots; a refusal when it has max already.
func (s *sourceCounts) acquire(ip netip.Addr) error {
	if s.max <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byIP[ip] >= s.max {
		return &refusal{http.StatusTooManyRequests, "source_busy", "too many bodies from this address are still arriving"}
	}
	s.byIP[ip]++
	return nil
}

func (s *sourceCounts) release(ip netip.Addr) {
	if s.max <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byIP[ip]--; s.byIP[ip] <= 0 {
		delete(s.byIP, ip)
	}
}

// clientIPs is Echo's walk of X-Forwarded-For from the right, believing
// only the trusted proxies: the client is the peer, or, when the peer is
// trusted, the first address from the right that is not. (Echo would also
// trust loopback, link-local and private peers by default.)
func clientIPs(trusted []netip.Prefix) echo.IPExtractor {
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// addr parses what an IPExtractor returned; the zero Addr when nothing.
func addr(ip string) netip.Addr {
	a, _ := netip.ParseAddr(ip)
	return a.Unmap()
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

// entry returns ip's bucket, forgetting idle ones now and then; l.mu held.
func (l *limiters) entry(ip netip.Addr, now time.Time) *limiterEntry {
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
	return e
}

// spent reports whether ip has no budget left, without spending any.
func (l *limiters) spent(ip netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.byIP[ip]
	return ok && e.lim.TokensAt(now) < 1
}

// spend takes one unit of ip's budget (it may go below zero: a burst of
// refusals in flight at once is paid back before the next is admitted).
func (l *limiters) spend(ip netip.Addr, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entry(ip, now).lim.ReserveN(now, 1)
}
