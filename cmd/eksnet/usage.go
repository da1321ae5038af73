package main

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/internal/cli"
	"github.com/eksnet/eksnet/stacks"
)

// envArg is the Args check of the commands that take a stack name: it
// names what is missing and the stacks the project has, instead of cobra's
// "accepts 1 arg(s), received 0". pf is nil for a command that creates
// the stack.
func envArg(pf *projectFlags) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 1:
			return nil
		case len(args) == 0 && pf == nil:
			return cli.Usagef("missing ENV: the name of the new stack (1-40 lower-case letters, digits or -), e.g. dev\n%s", cli.HelpHint(cmd))
		case len(args) == 0:
			return cli.Usagef("missing ENV: the stack name (stacks/Pulumi.ENV.yaml); %s\n%s", knownStacks(pf), cli.HelpHint(cmd))
		default:
			return cli.Usagef("%s takes one ENV, got %d arguments: %s\n%s", cmd.CommandPath(), len(args), strings.Join(args, " "), cli.HelpHint(cmd))
		}
	}
}

// knownStacks says which stacks exist in the project, or how to make one.
func knownStacks(pf *projectFlags) string {
	names := stackNames(pf)
	if len(names) == 0 {
		return "no stack exists yet: create one with `eksnet stack new ENV --preset " + strings.Join(stacks.PresetNames, "|") + "`"
	}
	return "one of " + strings.Join(names, ", ")
}

// stackNames lists the stacks of the project (the Pulumi.ENV.yaml files),
// for messages and shell completion; nil when there is no project.
func stackNames(pf *projectFlags) []string {
	root, err := pf.root()
	if err != nil {
		return nil
	}
	paths, _ := filepath.Glob(filepath.Join(root, stacks.Dir, "Pulumi.*.yaml"))
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "Pulumi."), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// completeStacks completes the first argument with the project's stacks.
func completeStacks(pf *projectFlags) func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return stackNames(pf), cobra.ShellCompDirectiveNoFileComp
	}
}
