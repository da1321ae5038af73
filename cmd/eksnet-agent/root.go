package main

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// app carries what every command needs instead of globals: the output
// streams and the environment lookup (tests swap them).
type app struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// Run builds the command tree and executes it with args.
func Run(ctx context.Context, args []string) error {
	return runWith(ctx, args, &app{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
}

func runWith(ctx context.Context, args []string, a *app) error {
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	return root.ExecuteContext(ctx)
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "eksnet-agent",
		Short:         "eksnet node agent: pod addresses from ENIs, warm pool, SNAT and the CNI plugin's socket",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// One constructor per command, each in its own file.
	root.AddCommand(
		newRunCmd(a),
		newStatusCmd(a),
		newInstallCmd(a), newUninstallCmd(a),
	)
	return root
}
