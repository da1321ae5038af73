// Command pause is the sandbox process of every simulated pod, as
// registry.k8s.io/pause is on a real node: PID 1 of the pod, it holds the
// pod's namespaces, reaps orphans and exits on SIGTERM or SIGINT. It is
// built static and packed into a local image; nothing is pulled.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
