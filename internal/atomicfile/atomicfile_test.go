package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watchNames returns a function that reports every name created in or
// moved into dir since the call, as inotify saw them.
func watchNames(t *testing.T, dir string) func() []string {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		t.Fatalf("inotify watch %s: %v", dir, err)
	}
	return func() []string {
		var names []string
		buf := make([]byte, 64*1024)
		for {
			n, err := unix.Read(fd, buf)
			if errors.Is(err, unix.EAGAIN) || n <= 0 {
				return names
			}
			if err != nil {
				t.Fatal(err)
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
				names = append(names, string(bytes.TrimRight(name, "\x00")))
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}
}

func leftovers(t *testing.T, dirs ...string) []string {
	t.Helper()
	var left []string
	for _, d := range dirs {
		m, _ := filepath.Glob(filepath.Join(d, ".*.tmp-*"))
		left = append(left, m...)
	}
	return left
}

func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Copy(path, strings.NewReader("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "two" {
		t.Fatalf("contents %q, %v; want two", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if left := leftovers(t, dir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestWriteFailureKeepsOld: a fill that fails leaves the old contents and
// no temporary file.
func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, 0o644, func(w io.Writer) error {
		_, _ = w.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "writing "+dir) {
		t.Fatalf("Write = %v, want the fill's error wrapped with the file written", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("contents %q after a failed write, want old", got)
	}
	if left := leftovers(t, dir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestTempDirKeepsWatchedDirClean: with TempDir, the only name that ever
// appears in the target's directory is the target itself; without it the
// temporary file shows up there too (which is why TempDir exists).
func TestTempDirKeepsWatchedDirClean(t *testing.T) {
	root := t.TempDir()
	watched, scratch := filepath.Join(root, "net.d"), root
	if err := os.Mkdir(watched, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(watched, "10-x.conflist")

	seen := watchNames(t, watched)
	for i := range 3 {
		if err := WriteFile(path, []byte{byte('a' + i)}, 0o644, TempDir(scratch)); err != nil {
			t.Fatal(err)
		}
	}
	if names := seen(); len(names) == 0 || slices.ContainsFunc(names, func(n string) bool { return n != "10-x.conflist" }) {
		t.Errorf("names that appeared in %s: %v, want only 10-x.conflist", watched, names)
	}
	if left := leftovers(t, watched, scratch); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	if err := WriteFile(path, []byte("z"), 0o644); err != nil {
		t.Fatal(err)
	}
	if names := seen(); len(names) != 2 || names[1] != "10-x.conflist" {
		t.Errorf("without TempDir the names were %v, want a temporary file then 10-x.conflist", names)
	}
}

// TestTempDirOtherDevice: a TempDir on another file system is not used
// (rename could not work); the write still succeeds.
func TestTempDirOtherDevice(t *testing.T) {
	dir := t.TempDir()
	other := "/dev/shm"
	if _, err := os.Stat(other); err != nil || sameDevice(dir, other) {
		t.Skipf("needs %s on another device than %s", other, dir)
	}
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("x"), 0o644, TempDir(other)); err != nil {
		t.Fatalf("WriteFile with a TempDir on another device: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "x" {
		t.Errorf("contents %q, want x", got)
	}
}
