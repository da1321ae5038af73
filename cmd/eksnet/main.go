// Command eksnet provisions EKS environments whose pod networking is right by
// construction: it computes max pods, renders node user data, plans and applies
// the Pulumi program per stack, and runs the simulated VPC.
//
// Exit status: 0 on success, 1 when a check or operation failed, 2 on bad
// usage (unknown command or flag, missing or extra arguments, an invalid flag
// value, a confirmation that cannot be asked); sim exec passes its command's
// status through.
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
	code := runMain(ctx, os.Args[1:], &app{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, interactive: stdinIsTerminal(), getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// runMain is the process minus os.Exit: it runs the command, prints its
// error and returns the exit status, so tests check both as a user sees them.
func runMain(ctx context.Context, args []string, a *app) int {
	err := runWith(ctx, args, a)
	if err == nil {
		return 0
	}
	fmt.Fprintln(a.stderr, "eksnet:", err)
	return exitStatus(err)
}

// exitStatus is exitUsage for bad usage, passes a child's exit status
// through (sim exec runs commands whose status scripts test), and is
// exitFailure for every other failure.
func exitStatus(err error) int {
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) && coded.ExitCode() > 0 {
		return coded.ExitCode()
	}
	return exitFailure
}
