package cniconf

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestInstallWritesOnlyTheConflistInConfDir watches ConfDir with inotify,
// as containerd and CRI-O do, across repeated installs (first, unchanged,
// changed MTU, companions present): the only name that ever appears there
// is the conflist itself, so a runtime never reads a temporary file.
func TestInstallWritesOnlyTheConflistInConfDir(t *testing.T) {
	c := validConfig(t)
	if err := os.MkdirAll(c.ConfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, c.ConfDir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE); err != nil {
		t.Fatal(err)
	}
	for i, mtu := range []int{9001, 9001, 1500} {
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
	var names []string
	buf := make([]byte, 64*1024)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			break
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
	if len(names) == 0 || slices.ContainsFunc(names, func(n string) bool { return n != ConflistName }) {
		t.Errorf("names that appeared in %s: %v, want only %s", c.ConfDir, names, ConflistName)
	}
	if entries, _ := os.ReadDir(c.ConfDir); len(entries) != 1 {
		t.Errorf("%s holds %v, want only %s", c.ConfDir, entries, ConflistName)
	}
}
