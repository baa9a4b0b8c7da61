package spool_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/smallfs"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/spool"
)

// appendN appends msg(from)..msg(from+n-1) and fails the test on an error.
func appendN(t *testing.T, s *spool.Spool, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Append(msg(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// A drained last segment is deleted at start-up before the next one is
// created; a crash in between, or an operator removing the empty file,
// leaves only the checkpoint. The next segment must not reuse a number the
// checkpoint has passed, or its records count as drained at the next start.
func TestSegmentNumbersNeverGoBack(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "checkpoint"), []byte("7 123\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	s, _, err := spool.Open(dir, spool.Limits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 0, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, seg := range segments(t, dir) {
		if !strings.HasSuffix(seg, fmt.Sprintf("seg-%020d.log", 8)) {
			t.Errorf("segment %s: want number 8, after the checkpoint's 7", filepath.Base(seg))
		}
	}
	s2, damage := open(t, dir, spool.Limits{})
	if len(damage) != 0 {
		t.Errorf("damage %+v", damage)
	}
	if got := drainAll(t, s2); len(got) != 5 {
		t.Fatalf("recovered %d of 5 spooled events", len(got))
	}
}

// A checkpoint that does not match the log is damage: it is reported, and
// the records it would have skipped are kept (republishing them costs a
// duplicate, deleting them loses events answered 200).
func TestCheckpointThatDoesNotMatchTheLog(t *testing.T) {
	dir := t.TempDir()
	s, _, _ := spool.Open(dir, spool.Limits{}, nil)
	appendN(t, s, 0, 10)
	_ = s.Close()
	seg := filepath.Base(segments(t, dir)[0])
	var seq uint64
	if _, err := fmt.Sscanf(seg, "seg-%d.log", &seq); err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"offset past the end of the segment": fmt.Sprintf("%d 99999999\n", seq),
		"segment past one still on disk":     fmt.Sprintf("%d 0\n", seq+5),
		"offset inside a record":             fmt.Sprintf("%d 7\n", seq),
	}
	for name, cp := range tests {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			copyDir(t, dir, d)
			if err := os.WriteFile(filepath.Join(d, "checkpoint"), []byte(cp), 0o640); err != nil {
				t.Fatal(err)
			}
			s2, damage := open(t, d, spool.Limits{})
			if len(damage) != 1 || !strings.Contains(damage[0].Reason, "checkpoint") || damage[0].Segment != seg {
				t.Errorf("damage %+v, want one report naming the checkpoint and %s", damage, seg)
			}
			if got := drainAll(t, s2); len(got) != 10 {
				t.Fatalf("kept %d of 10 intact records", len(got))
			}
		})
	}
}

// One failed write (a full disk) refuses that append, not the spool: once
// there is room again the next append is taken, and Writable, which
// readiness asks, says so both ways.
func TestFullDiskIsNotFatal(t *testing.T) {
	dir := smallfs.Mount(t, 1<<20)
	s, _ := open(t, filepath.Join(dir, "spool"), spool.Limits{})
	appendN(t, s, 0, 3)
	free := smallfs.Fill(t, dir)
	// Large enough not to fit in the active segment's last page either.
	big := func(i int) outbound.Message {
		m := msg(i)
		m.Body = append(m.Body, strings.Repeat(" ", 64<<10)...)
		return m
	}
	if err := s.Append(big(3)); err == nil {
		t.Fatal("append on a full disk succeeded")
	}
	if err := s.Writable(64 << 10); !errors.Is(err, spool.ErrNoRoom) {
		t.Errorf("Writable on a full disk: %v", err)
	}
	if err := s.Append(big(4)); err == nil {
		t.Fatal("second append on a full disk succeeded")
	}
	free()
	if err := s.Writable(64 << 10); err != nil {
		t.Errorf("Writable after space returned: %v", err)
	}
	appendN(t, s, 5, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, _ := open(t, filepath.Join(dir, "spool"), spool.Limits{})
	got := drainAll(t, s2)
	var ids []string
	for _, m := range got {
		ids = append(ids, m.TaskID)
	}
	if want := "task0000 task0001 task0002 task0005 task0006 task0007"; strings.Join(ids, " ") != want {
		t.Fatalf("recovered %v, want %s: every accepted append and none of the refused", ids, want)
	}
}

// A torn record found at start on a full disk cannot be copied aside: that
// is reported, and the spool opens with every intact record.
func TestTornRecordOnAFullDisk(t *testing.T) {
	dir := smallfs.Mount(t, 1<<20)
	sdir := filepath.Join(dir, "spool")
	s, _, err := spool.Open(sdir, spool.Limits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 0, 5)
	_ = s.Close()
	seg := segments(t, sdir)[0]
	info, _ := os.Stat(seg)
	if err := os.Truncate(seg, info.Size()-10); err != nil {
		t.Fatal(err)
	}
	defer smallfs.Fill(t, dir)()
	s2, damage, err := spool.Open(sdir, spool.Limits{}, nil)
	if err != nil {
		t.Fatalf("open on a full disk with a torn record: %v", err)
	}
	defer s2.Close()
	if len(damage) != 1 || damage[0].SavedAs != "" || damage[0].SaveError == "" {
		t.Errorf("damage %+v: want one, not saved, with the reason", damage)
	}
	if n := s2.Len(); n != 4 {
		t.Fatalf("kept %d of the 4 intact records", n)
	}
}
