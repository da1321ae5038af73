package datapath

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// InNamespace runs fn on an OS thread switched into the network namespace at
// path, then switches the thread back. Sockets fn opens stay in that
// namespace after it returns, which is how tests and the plugin reach a pod.
//
// The work runs on a goroutine of its own so the caller's thread is never
// switched; if switching back fails the thread is left locked and dies with
// its goroutine, so a thread in the wrong namespace never returns to the Go
// scheduler.
func InNamespace(path string, fn func() error) error {
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	defer target.Close()
	return InNamespaceHandle(target, fn)
}

// InNamespaceHandle is InNamespace for an already opened namespace.
func InNamespaceHandle(target netns.NsHandle, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("reading the current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("entering network namespace: %w", err)
			return
		}
		fnErr := fn()
		if err := netns.Set(orig); err != nil {
			// Keep the thread locked: it exits with this goroutine.
			done <- fmt.Errorf("returning to the original network namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		done <- fnErr
	}()
	return <-done
}
