package verify

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

func TestReplayCacheIsBoundedAndExpires(t *testing.T) {
	c := newReplayCache(100)
	now := time.Unix(1000, 0)
	body := [32]byte{1}
	for i := 0; i < 1000; i++ {
		if !c.use(keyOf(i), now.Add(time.Minute), body, now) {
			t.Fatalf("new key %d refused", i)
		}
	}
	if n := c.len(); n != 100 {
		t.Fatalf("cache holds %d entries, bound 100", n)
	}
	if c.use(keyOf(999), now.Add(time.Minute), [32]byte{2}, now) {
		t.Fatal("recent key with another body accepted")
	}
	later := now.Add(2 * time.Minute)
	if !c.use(keyOf(999), later.Add(time.Minute), [32]byte{2}, later) {
		t.Fatal("expired key still remembered")
	}
	if n := c.len(); n != 1 {
		t.Fatalf("%d entries after everything expired", n)
	}
}

func keyOf(i int) replayKey { return sha256.Sum256([]byte(fmt.Sprint(i))) }
