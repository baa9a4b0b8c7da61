package spool_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/spool"
)

func msg(i int) outbound.Message {
	task := fmt.Sprintf("task%04d", i)
	return outbound.Message{
		ID: event.ID(task, event.StageComplete), Subject: event.Subject("vocals", task, event.StageComplete),
		Stage: event.StageComplete, TaskID: task, Body: []byte(fmt.Sprintf(`{"n":%d,"text":"城市之夜"}`, i)),
	}
}

func open(t *testing.T, dir string, limits spool.Limits) (*spool.Spool, []spool.Damage) {
	t.Helper()
	s, damage, err := spool.Open(dir, limits, nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, damage
}

// drainAll removes every waiting event and returns them in order.
func drainAll(t *testing.T, s *spool.Spool) []outbound.Message {
	t.Helper()
	var out []outbound.Message
	for i := 0; i < 100000; i++ {
		e, m, ok, err := s.Head()
		if err != nil {
			t.Fatalf("head: %v", err)
		}
		if !ok {
			return out
		}
		out = append(out, m)
		if err := s.Remove(e); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("spool never emptied")
	return nil
}

func sameMessage(a, b outbound.Message) bool {
	return a.ID == b.ID && a.Subject == b.Subject && a.Stage == b.Stage && a.TaskID == b.TaskID && string(a.Body) == string(b.Body)
}

func TestAppendKeepsOrderAndContent(t *testing.T) {
	s, _ := open(t, t.TempDir(), spool.Limits{})
	for i := 0; i < 20; i++ {
		if err := s.Append(msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	if !s.Contains(msg(3).ID) || s.Len() != 20 {
		t.Fatalf("contains=%v len=%d", s.Contains(msg(3).ID), s.Len())
	}
	got := drainAll(t, s)
	for i, m := range got {
		if !sameMessage(m, msg(i)) {
			t.Fatalf("event %d came back as %+v", i, m)
		}
	}
	if s.Len() != 0 || s.Contains(msg(3).ID) {
		t.Error("drained spool still holds events")
	}
}

func TestAppendSameIDTwiceAddsNothing(t *testing.T) {
	s, _ := open(t, t.TempDir(), spool.Limits{})
	if err := s.Append(msg(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(msg(1)); !errors.Is(err, spool.ErrAlreadySpooled) {
		t.Fatalf("second append: %v", err)
	}
	if s.Len() != 1 {
		t.Fatalf("len %d", s.Len())
	}
}

func TestLimits(t *testing.T) {
	t.Run("entries", func(t *testing.T) {
		s, _ := open(t, t.TempDir(), spool.Limits{MaxEntries: 3})
		for i := 0; i < 3; i++ {
			if err := s.Append(msg(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Append(msg(3)); !errors.Is(err, spool.ErrFull) {
			t.Fatalf("fourth append: %v", err)
		}
		drainAll(t, s)
		if err := s.Append(msg(3)); err != nil {
			t.Fatalf("append after draining: %v", err)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		s, _ := open(t, t.TempDir(), spool.Limits{MaxBytes: 300})
		var err error
		n := 0
		for ; n < 100 && err == nil; n++ {
			err = s.Append(msg(n))
		}
		if !errors.Is(err, spool.ErrFull) || n < 2 {
			t.Fatalf("after %d appends: %v", n, err)
		}
		if _, b, _ := s.Stats(); b > 300 {
			t.Fatalf("spool holds %d bytes over its 300 limit", b)
		}
	})
}

func TestReopenRecoversWhatWasNotDrained(t *testing.T) {
	dir := t.TempDir()
	s, _, err := spool.Open(dir, spool.Limits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := s.Append(msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 4; i++ { // drain four
		e, _, _, _ := s.Head()
		if err := s.Remove(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, damage := open(t, dir, spool.Limits{})
	if len(damage) != 0 {
		t.Fatalf("damage on a clean reopen: %+v", damage)
	}
	got := drainAll(t, s2)
	if len(got) != 6 || !sameMessage(got[0], msg(4)) || !sameMessage(got[5], msg(9)) {
		t.Fatalf("recovered %d events, first %s", len(got), got[0].TaskID)
	}
}

// Without the checkpoint (lost in a crash) drained events come back: the
// stream then reports them as duplicates. Nothing waiting is ever lost.
func TestLostCheckpointRepublishesButLosesNothing(t *testing.T) {
	dir := t.TempDir()
	s, _, _ := spool.Open(dir, spool.Limits{}, nil)
	for i := 0; i < 5; i++ {
		_ = s.Append(msg(i))
	}
	e, _, _, _ := s.Head()
	_ = s.Remove(e)
	_ = s.Close()
	if err := os.Remove(filepath.Join(dir, "checkpoint")); err != nil {
		t.Fatal(err)
	}
	s2, _ := open(t, dir, spool.Limits{})
	if got := drainAll(t, s2); len(got) != 5 {
		t.Fatalf("recovered %d, want all 5", len(got))
	}
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	return names
}

// A crash mid-write leaves a torn last record: the spool starts, keeps
// every complete record, sets the torn bytes aside and reports them.
func TestTornLastRecord(t *testing.T) {
	dir := t.TempDir()
	s, _, _ := spool.Open(dir, spool.Limits{}, nil)
	for i := 0; i < 5; i++ {
		if err := s.Append(msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	segs := segments(t, dir)
	last := segs[len(segs)-1]
	info, _ := os.Stat(last)
	for _, cut := range []int64{3, 20} { // inside the header, inside the payload
		t.Run(fmt.Sprintf("cut %d bytes", cut), func(t *testing.T) {
			d := t.TempDir()
			copyDir(t, dir, d)
			seg := filepath.Join(d, filepath.Base(last))
			if err := os.Truncate(seg, info.Size()-cut); err != nil {
				t.Fatal(err)
			}
			s2, damage := open(t, d, spool.Limits{})
			if len(damage) != 1 || damage[0].Segment != filepath.Base(last) || !strings.Contains(damage[0].Reason, "torn") {
				t.Fatalf("damage %+v", damage)
			}
			if _, err := os.Stat(damage[0].SavedAs); err != nil {
				t.Errorf("damaged bytes not saved: %v", err)
			}
			if err := s2.Append(msg(99)); err != nil {
				t.Fatalf("append after recovery: %v", err)
			}
			got := drainAll(t, s2)
			if len(got) != 5 || !sameMessage(got[3], msg(3)) || !sameMessage(got[4], msg(99)) {
				t.Fatalf("recovered %d events", len(got))
			}
		})
	}
}

func TestCorruptRecordInTheMiddle(t *testing.T) {
	dir := t.TempDir()
	s, _, _ := spool.Open(dir, spool.Limits{}, nil)
	for i := 0; i < 3; i++ {
		_ = s.Append(msg(i))
	}
	_ = s.Close()
	seg := segments(t, dir)[0]
	raw, _ := os.ReadFile(seg)
	raw[len(raw)/2] ^= 0xff // flips a byte of the second record
	if err := os.WriteFile(seg, raw, 0o640); err != nil {
		t.Fatal(err)
	}
	s2, damage := open(t, dir, spool.Limits{})
	if len(damage) != 1 {
		t.Fatalf("damage %+v", damage)
	}
	got := drainAll(t, s2)
	if len(got) != 2 || !sameMessage(got[0], msg(0)) || !sameMessage(got[1], msg(2)) {
		t.Fatalf("kept %d events; want the ones before and after the damage", len(got))
	}
}

func TestDirectoryIsLocked(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, spool.Limits{})
	if _, _, err := spool.Open(dir, spool.Limits{}, nil); !errors.Is(err, spool.ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}

func TestSegmentsRotateAndDrainedOnesAreDeleted(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, spool.Limits{SegmentBytes: 512})
	for i := 0; i < 40; i++ {
		if err := s.Append(msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segments(t, dir)); n < 4 {
		t.Fatalf("%d segments after 40 appends of ~100 bytes with 512-byte segments", n)
	}
	if got := drainAll(t, s); len(got) != 40 {
		t.Fatalf("drained %d", len(got))
	}
	if n := len(segments(t, dir)); n != 1 {
		t.Fatalf("%d segments left after draining, want only the active one", n)
	}
}

// Concurrent appends all become durable and come back exactly once.
func TestConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	s, _, _ := spool.Open(dir, spool.Limits{SegmentBytes: 4096}, nil)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := s.Append(msg(g*1000 + i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	_ = s.Close()
	s2, _ := open(t, dir, spool.Limits{})
	seen := map[string]bool{}
	for _, m := range drainAll(t, s2) {
		if seen[m.ID] {
			t.Fatalf("%s came back twice", m.TaskID)
		}
		seen[m.ID] = true
	}
	if len(seen) != 400 {
		t.Fatalf("recovered %d of 400", len(seen))
	}
}

func TestClosedSpoolRefusesAppends(t *testing.T) {
	s, _, _ := spool.Open(t.TempDir(), spool.Limits{}, nil)
	_ = s.Close()
	if err := s.Append(msg(1)); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, _ := os.ReadDir(from)
	for _, e := range entries {
		if e.Name() == "LOCK" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), raw, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}
