package cniconf

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestInstallIsSeenAsARenameInConfDir watches ConfDir with inotify, as
// containerd and CRI-O do, across repeated installs (first, unchanged,
// changed MTU, companions present). No file is ever written in ConfDir (a
// runtime never reads a half-written one), and every install ends with a
// rename inside ConfDir onto the conflist: containerd 2.x reloads its CNI
// configuration on fsnotify Write, Rename and Remove but ignores Create,
// and a file renamed in from another directory is only a Create (IN_MOVED_TO).
func TestInstallIsSeenAsARenameInConfDir(t *testing.T) {
	c := validConfig(t)
	if err := os.MkdirAll(c.ConfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, c.ConfDir, unix.IN_CLOSE_WRITE|unix.IN_MODIFY|unix.IN_MOVED_FROM|unix.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}
	installs := []int{9001, 9001, 1500}
	for i, mtu := range installs {
		c.MTU = mtu
		if i == 2 {
			if err := os.WriteFile(c.BinDir+"/portmap", []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := Install(c); err != nil {
			t.Fatal(err)
		}
	}
	var written []string
	renames := 0
	for _, ev := range readInotify(t, fd) {
		switch {
		case ev.mask&(unix.IN_CLOSE_WRITE|unix.IN_MODIFY) != 0:
			written = append(written, ev.name)
		case ev.mask&unix.IN_MOVED_TO != 0 && ev.name == ConflistName:
			renames++
			if ev.cookie == 0 || ev.cookie != ev.fromCookie {
				t.Errorf("%s arrived in %s from outside it (a Create containerd ignores), want a rename inside it", ConflistName, c.ConfDir)
			}
		}
	}
	if len(written) > 0 {
		t.Errorf("files written in %s: %v, want none (write elsewhere, rename in)", c.ConfDir, written)
	}
	if renames != len(installs) {
		t.Errorf("%d renames onto %s in %s, want one per install (%d)", renames, ConflistName, c.ConfDir, len(installs))
	}
	if entries, _ := os.ReadDir(c.ConfDir); len(entries) != 1 {
		t.Errorf("%s holds %v, want only %s", c.ConfDir, entries, ConflistName)
	}
}

type inotifyEvent struct {
	mask, cookie uint32
	name         string
	// fromCookie is the cookie of the IN_MOVED_FROM just before this event
	// in the same directory, 0 if there was none.
	fromCookie uint32
}

func readInotify(t *testing.T, fd int) []inotifyEvent {
	t.Helper()
	var evs []inotifyEvent
	var lastFrom uint32
	buf := make([]byte, 64*1024)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			raw := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(raw.Len)]
			ev := inotifyEvent{mask: raw.Mask, cookie: raw.Cookie, name: string(bytes.TrimRight(name, "\x00"))}
			if raw.Mask&unix.IN_MOVED_TO != 0 {
				ev.fromCookie = lastFrom
			}
			lastFrom = 0
			if raw.Mask&unix.IN_MOVED_FROM != 0 {
				lastFrom = raw.Cookie
			}
			evs = append(evs, ev)
			off += unix.SizeofInotifyEvent + int(raw.Len)
		}
	}
}
