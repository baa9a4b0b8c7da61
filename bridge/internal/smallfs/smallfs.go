// Package smallfs gives tests a real, small file system that can be filled
// up: a tmpfs of a chosen size, mounted for the test and unmounted after.
// It needs root (CI runs as root); elsewhere the test is skipped, saying so.
package smallfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes on a new directory and returns it.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("smallfs: mounting a small tmpfs needs root; run as root (CI does) to test a full disk")
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("smallfs: cannot mount a tmpfs here (%v: %s)", err, out)
	}
	t.Cleanup(func() {
		// Lazy, so a process the test left running cannot keep it mounted.
		_ = syscall.Unmount(dir, syscall.MNT_DETACH)
	})
	return dir
}

// Fill writes a file in dir until the file system is full and returns a
// function that deletes it again.
func Fill(t testing.TB, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for i := 0; ; i++ {
		if i > 1<<16 { // 4 GiB: not a small file system
			t.Fatal("smallfs: file system did not fill up")
		}
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// The last few bytes too, so not even a small record fits.
	for _, n := range []int{4096, 512, 1} {
		for j := 0; j < 1<<10; j++ {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
	_ = f.Close()
	return func() {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}
