package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/internal/cli"
)

// app carries what every command needs, so commands take it instead of
// reaching for globals: the output streams (tests swap them) and the
// environment lookup (tests pin it).
type app struct {
	stdout io.Writer
	stderr io.Writer
	// stdin answers confirmation prompts (up, destroy) when interactive
	// says it is a terminal.
	stdin       io.Reader
	interactive bool
	getenv      func(string) string
}

func runWith(ctx context.Context, args []string, a *app) error {
	return cli.Execute(ctx, newRootCmd(a), args, a.stdout, a.stderr)
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "eksnet",
		Short:         "Provision EKS with pod networking that is right by construction",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// One constructor per command, each in its own file.
	root.AddCommand(
		// commands are registered here, one line each
		newMaxPodsCmd(a),
		newStackCmd(a),
		newPlanCmd(a),
		newPreviewCmd(a),
		newUpCmd(a),
		newDestroyCmd(a),
		newENIsCmd(a),
		newKubeconfigCmd(a),
		newUserDataCmd(a),
		newBundleCmd(a),
		newAMICmd(a),
		newSimCmd(a),
	)
	cli.AddVersion(root, cli.ReadBuildInfo("eksnet", version), a.stdout)
	return root
}
