// Command eksnet provisions EKS environments whose pod networking is right by
// construction: it computes max pods, renders node user data, plans and applies
// the Pulumi program per stack, and runs the simulated VPC.
package main

import (
	"context"
	"errors"
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
		os.Exit(exitStatus(err))
	}
}

// exitStatus passes a child's exit status through (sim exec runs commands
// whose status scripts test), and is 1 for every other failure.
func exitStatus(err error) int {
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) && coded.ExitCode() > 0 {
		return coded.ExitCode()
	}
	return 1
}
