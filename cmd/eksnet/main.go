// Command eksnet provisions EKS environments whose pod networking is right by
// construction: it computes max pods, renders node user data, plans and applies
// the Pulumi program per stack, and runs the simulated VPC.
//
// Exit status: 0 on success, 1 when a check or operation failed, 2 on bad
// usage (unknown command or flag, missing or extra arguments, an invalid flag
// value, a confirmation that cannot be asked); sim exec passes its command's
// status through. The scaffolding behind this is internal/cli, shared with
// eksnet-agent.
package main

import (
	"context"
	"os"

	"github.com/eksnet/eksnet/internal/cli"
)

func main() {
	cli.Main("eksnet", Run)
}

// runMain is the process minus os.Exit: it runs the command, prints its
// error and returns the exit status, so tests check both as a user sees them.
func runMain(ctx context.Context, args []string, a *app) int {
	return cli.Report("eksnet", runWith(ctx, args, a), a.stderr)
}

// Run builds the command tree and executes it with args. It is the whole
// program minus process concerns, so tests call it directly.
func Run(ctx context.Context, args []string) error {
	return runWith(ctx, args, &app{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, interactive: stdinIsTerminal(), getenv: os.Getenv})
}
