package main

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/cni-agent/config"
	"github.com/eksnet/eksnet/internal/cli"
)

// app carries what every command needs instead of globals: the output
// streams and the environment lookup (tests swap them).
type app struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// environ lists the environment for the misspelled-setting check; nil
	// means none (tests that set only getenv).
	environ func() []string
}

// resolve is the command's configuration from its flags, the environment
// and agent.env; a misspelled EKSNET_* variable is an error, as in agent.env.
// Every error is bad usage (exit status 2): the user fixes a setting, as
// with a flag value cobra refuses.
func (a *app) resolve(cmd *cobra.Command) (config.Config, error) {
	if a.environ != nil {
		if err := config.CheckEnviron(a.environ()); err != nil {
			return config.Config{}, cli.Usage(err)
		}
	}
	c, err := config.Resolve(cmd.Flags(), a.getenv)
	return c, cli.Usage(err)
}

// Run builds the command tree and executes it with args.
func Run(ctx context.Context, args []string) error {
	return runWith(ctx, args, &app{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, environ: os.Environ})
}

func runWith(ctx context.Context, args []string, a *app) error {
	return cli.Execute(ctx, newRootCmd(a), args, a.stdout, a.stderr)
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
		newWithdrawCmd(a),
	)
	cli.AddVersion(root, cli.ReadBuildInfo("eksnet-agent", version), a.stdout)
	return root
}
