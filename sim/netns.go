package sim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named namespaces are bind-mounted (as by `ip netns add`).
const netnsDir = "/run/netns"

// netnsLock serializes making netnsDir a mount point across processes. It
// lives beside the directory, not in it, so it is never under the mount.
const netnsLock = "/run/eksnet-netns.lock"

// inNS runs fn on a fresh OS thread switched into the namespace at path.
// The thread is never unlocked, so Go discards it when fn returns: no other
// goroutine can ever run in a namespace it did not ask for, even if switching
// back would have failed.
func inNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromPath(path)
		if err != nil {
			errc <- fmt.Errorf("opening netns %s: %w", path, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("entering netns %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// ensureNetnsDir makes /run/netns a shared mount point, as `ip netns add`
// does before its first namespace. Done first, a later `ip netns add` (by any
// tool) finds the mount point and does not bind a fresh /run/netns over ours,
// which would hide our namespace mounts and make them impossible to remove.
//
// Test packages run in parallel processes: without the lock two of them can
// both find /run/netns unmounted and stack two binds, after which the lower
// one's namespace mounts can no longer be deleted (EBUSY).
func ensureNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", netnsDir, err)
	}
	lock, err := os.OpenFile(netnsLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("opening %s: %w", netnsLock, err)
	}
	defer lock.Close() // closing releases the lock
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("locking %s: %w", netnsLock, err)
	}
	for bound := false; ; bound = true {
		err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || bound {
			return fmt.Errorf("making %s a shared mount: %w", netnsDir, err)
		}
		if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mounting %s onto itself: %w", netnsDir, err)
		}
	}
}

// createNS creates the named namespace with lo up and returns its path.
func createNS(name string) (string, error) {
	if err := ensureNetnsDir(); err != nil {
		return "", err
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends up in the new namespace
		h, err := netns.NewNamed(name)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			_ = deleteNS(name) // created but unusable: do not leave it
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("creating netns %s: already exists (a simulation of that name is running, or left over: see `eksnet sim down`): %w", name, err)
		}
		return "", fmt.Errorf("creating netns %s: %w", name, err)
	}
	return filepath.Join(netnsDir, name), nil
}

// deleteNS removes a named namespace; a missing one is not an error.
func deleteNS(name string) error {
	err := netns.DeleteNamed(name)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, serr := os.Stat(filepath.Join(netnsDir, name)); errors.Is(serr, os.ErrNotExist) {
		return nil
	}
	// A file left by an interrupted create is not mounted: remove it.
	if rerr := os.Remove(filepath.Join(netnsDir, name)); rerr == nil {
		return nil
	}
	return fmt.Errorf("deleting netns %s: %w", name, err)
}

// Namespaces lists the named namespaces of the run called name.
func Namespaces(name string) ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", netnsDir, err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name+".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Sweep deletes every namespace of the run called name, for when the process
// that owned it died without closing it. The run's veths and bridges live only
// inside those namespaces, so they go with them; nothing else is touched.
func Sweep(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("name %q: not a simulation name", name)
	}
	nss, err := Namespaces(name)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range nss {
		errs = append(errs, deleteNS(n))
	}
	return errors.Join(errs...)
}

// writeSysctl writes a /proc/sys value in the calling thread's namespace.
func writeSysctl(key, value string) error {
	p := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("setting %s=%s: %w", key, value, err)
	}
	return nil
}
