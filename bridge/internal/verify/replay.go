package verify

import (
	"sync"
	"time"
)

// replayCache remembers used signatures until their timestamp goes stale.
// The provider's signature does not cover the body, so a captured request
// could be replayed with another body inside the tolerance; a signature
// seen before is accepted again only with the same body (a plain retry).
//
// It is bounded: past size entries the oldest is forgotten. Each bridge
// replica has its own cache, so a replay sent to another replica is not
// caught (see the README's threat model).
type replayCache struct {
	mu    sync.Mutex
	size  int
	byKey map[string]replayEntry
	order []replayKey // insertion order, for expiry and eviction
	head  int
}

type replayEntry struct {
	expires time.Time
	body    [32]byte
}

type replayKey struct {
	key     string
	expires time.Time
}

func newReplayCache(size int) *replayCache {
	return &replayCache{size: size, byKey: make(map[string]replayEntry)}
}

// use records key with its body hash and reports whether the request may
// pass: true for a new key or the same body again, false for a new body.
func (c *replayCache) use(key string, expires time.Time, body [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	if e, ok := c.byKey[key]; ok && now.Before(e.expires) {
		return e.body == body
	}
	c.byKey[key] = replayEntry{expires: expires, body: body}
	c.order = append(c.order, replayKey{key: key, expires: expires})
	for len(c.byKey) > c.size && c.head < len(c.order) {
		c.drop()
	}
	return true
}

// sweep forgets entries from the front of the insertion order that have
// expired; the order is close to timestamp order, which is good enough.
func (c *replayCache) sweep(now time.Time) {
	for c.head < len(c.order) && !now.Before(c.order[c.head].expires) {
		c.drop()
	}
	if c.head > 1024 && c.head > len(c.order)/2 {
		c.order = append([]replayKey(nil), c.order[c.head:]...)
		c.head = 0
	}
}

func (c *replayCache) drop() {
	k := c.order[c.head]
	c.order[c.head] = replayKey{}
	c.head++
	if e, ok := c.byKey[k.key]; ok && e.expires.Equal(k.expires) {
		delete(c.byKey, k.key)
	}
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey)
}
