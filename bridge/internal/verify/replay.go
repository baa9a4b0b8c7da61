package verify

import (
	"crypto/sha256"
	"sync"
	"time"
)

// replayCache remembers used signatures until their timestamp goes stale:
// an entry given expires = ts + tolerance is kept while now <= expires,
// the same instant up to which Verifier.timestamp accepts ts.
// The provider's signature does not cover the body, so a captured request
// could be replayed with another body inside the tolerance; a signature
// seen before is accepted again only with the same body (a plain retry).
//
// It is bounded: past size entries the oldest is forgotten. Each bridge
// replica has its own cache, so a replay sent to another replica is not
// caught (see the README's threat model).
//
// Keys and entries hold no pointers (a signature digest and Unix
// nanoseconds), so the garbage collector does not scan the map: at the
// default 100,000 entries a map of strings and times cost a tenth of the
// bridge's CPU in marking.
type replayCache struct {
	mu    sync.Mutex
	size  int
	byKey map[replayKey]replayEntry
	order []replayOrder // insertion order, for expiry and eviction
	head  int
}

// replayKey identifies a signature: the provider's 32-byte MAC itself, or a
// digest of a Standard Webhooks id and signature.
type replayKey [sha256.Size]byte

type replayEntry struct {
	expires int64 // Unix nanoseconds
	body    [sha256.Size]byte
}

type replayOrder struct {
	key     replayKey
	expires int64
}

func newReplayCache(size int) *replayCache {
	return &replayCache{size: size, byKey: make(map[replayKey]replayEntry)}
}

// use records key with its body hash and reports whether the request may
// pass: true for a new key or the same body again, false for a new body.
func (c *replayCache) use(key replayKey, expires time.Time, body [sha256.Size]byte, now time.Time) bool {
	exp, at := expires.UnixNano(), now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(at)
	if e, ok := c.byKey[key]; ok && at <= e.expires {
		return e.body == body
	}
	c.byKey[key] = replayEntry{expires: exp, body: body}
	c.order = append(c.order, replayOrder{key: key, expires: exp})
	for len(c.byKey) > c.size && c.head < len(c.order) {
		c.drop()
	}
	return true
}

// sweep forgets entries from the front of the insertion order that have
// expired; the order is close to timestamp order, which is good enough.
func (c *replayCache) sweep(now int64) {
	for c.head < len(c.order) && now > c.order[c.head].expires {
		c.drop()
	}
	if c.head > 1024 && c.head > len(c.order)/2 {
		c.order = append([]replayOrder(nil), c.order[c.head:]...)
		c.head = 0
	}
}

func (c *replayCache) drop() {
	k := c.order[c.head]
	c.head++
	if e, ok := c.byKey[k.key]; ok && e.expires == k.expires {
		delete(c.byKey, k.key)
	}
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey)
}
