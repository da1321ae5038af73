// Command eksnet-agent is the node daemon of eksnet: user data starts it
// (before kubelet) with `eksnet-agent run`; it owns the node's pod addresses
// and serves the eksnet-cni plugin. `eksnet-agent status` shows its pool.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "eksnet-agent:", err)
		os.Exit(1)
	}
}
