package main

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
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

// Run builds the command tree and executes it with args. It is the whole
// program minus process concerns, so tests call it directly.
func Run(ctx context.Context, args []string) error {
	return runWith(ctx, args, &app{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, interactive: stdinIsTerminal(), getenv: os.Getenv})
}

func runWith(ctx context.Context, args []string, a *app) error {
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	ran := false
	classifyUsage(root, &ran)
	err := root.ExecuteContext(ctx)
	if err != nil && !ran && !isUsage(err) {
		// cobra's own checks (unknown command, required flag) fail before
		// any RunE starts: all of them are bad usage.
		err = &usageError{err: err}
	}
	return err
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "eksnet",
		Short:         "Provision EKS with pod networking that is right by construction",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       readBuildInfo().Version,
	}
	// --version prints what `eksnet version` prints.
	root.SetVersionTemplate(strings.ReplaceAll(versionLine(readBuildInfo()), "{{", "{{`{{`}}"))
	// One constructor per command, each in its own file.
	root.AddCommand(
		// commands are registered here, one line each
		newMaxPodsCmd(a),
		newStackCmd(a),
		newPlanCmd(a),
		newPreviewCmd(a),
		newUpCmd(a),
		newDestroyCmd(a),
		newKubeconfigCmd(a),
		newUserDataCmd(a),
		newBundleCmd(a),
		newVersionCmd(a),
		newSimCmd(a),
	)
	return root
}
