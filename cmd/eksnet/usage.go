package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/stacks"
)

// Exit statuses, documented in the README: scripts tell a failed check
// (retrying will not help until something is fixed) from a mistyped command.
const (
	exitFailure = 1 // a check or operation failed
	exitUsage   = 2 // bad usage: unknown command or flag, wrong arguments, invalid flag value
)

// usageError marks an error as bad usage (exit status 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// ExitCode makes exitStatus return exitUsage.
func (e *usageError) ExitCode() int { return exitUsage }

// usageErrorf is fmt.Errorf for errors the user fixes by changing the
// command line: an invalid flag value, a missing or extra argument.
func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// isUsage reports whether err is a usage error.
func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

// helpHint is the line every usage error ends with.
func helpHint(cmd *cobra.Command) string {
	return fmt.Sprintf("usage: %s (see `%s --help`)", cmd.UseLine(), cmd.CommandPath())
}

// classifyUsage walks the command tree so that every error cobra raises
// before a command's RunE starts (unknown flag, wrong arguments, required
// flag missing, unknown subcommand) is a usageError, and a group command
// (stack, sim) given an unknown subcommand says so instead of printing help
// and exiting 0. ran is set once a RunE starts: errors after that are the
// command's own, classified where they are made.
func classifyUsage(cmd *cobra.Command, ran *bool) {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%w\n%s", err, helpHint(c))
	})
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			*ran = true
			return run(c, args)
		}
	} else if cmd.Run == nil && cmd.HasSubCommands() {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			var names []string
			for _, sub := range c.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			hint := ""
			if c.SuggestionsMinimumDistance <= 0 {
				c.SuggestionsMinimumDistance = 2 // cobra's default
			}
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				hint = " (did you mean " + strings.Join(s, ", ") + "?)"
			}
			return usageErrorf("unknown command %q for %q%s; accepted commands are %s\n%s",
				args[0], c.CommandPath(), hint, strings.Join(names, ", "), helpHint(c))
		}
	}
	for _, sub := range cmd.Commands() {
		classifyUsage(sub, ran)
	}
}

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
			return usageErrorf("missing ENV: the name of the new stack (1-40 lower-case letters, digits or -), e.g. dev\n%s", helpHint(cmd))
		case len(args) == 0:
			return usageErrorf("missing ENV: the stack name (stacks/Pulumi.ENV.yaml); %s\n%s", knownStacks(pf), helpHint(cmd))
		default:
			return usageErrorf("%s takes one ENV, got %d arguments: %s\n%s", cmd.CommandPath(), len(args), strings.Join(args, " "), helpHint(cmd))
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

// noArgs replaces cobra.NoArgs, whose message calls an argument an
// "unknown command".
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return usageErrorf("unexpected argument %q: %s takes no arguments\n%s", args[0], cmd.CommandPath(), helpHint(cmd))
}
