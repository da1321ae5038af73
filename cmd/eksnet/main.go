// Command eksnet provisions EKS environments whose pod networking is right by
// construction: it computes max pods, renders node user data, plans and applies
// the Pulumi program per stack, and runs the simulated VPC.
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
		fmt.Fprintln(os.Stderr, "eksnet:", err)
		os.Exit(1)
	}
}
