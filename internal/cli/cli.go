// Package cli is the command-line scaffolding eksnet and eksnet-agent share,
// so both answer a user the same way: exit status 1 for a failed operation
// and 2 for bad usage (unknown command or flag, wrong arguments, an invalid
// flag value), usage errors that end with a help hint, an unknown
// subcommand of a group command named with the closest ones instead of
// help and exit 0, one set of output format names, and `version` /
// `--version` from the binary's build information.
//
// A command's main is cli.Main(name, run); run builds the cobra tree and
// calls cli.Execute, which classifies every error cobra raises before a
// RunE starts as bad usage.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit statuses, documented in the README: scripts tell a failed check
// (retrying will not help until something is fixed) from a mistyped command.
const (
	ExitFailure = 1 // a check or operation failed
	ExitUsage   = 2 // bad usage: unknown command or flag, wrong arguments, invalid flag value
)

// Output format names: every -o/--output flag takes these.
const (
	OutputTable = "table"
	OutputJSON  = "json"
)

// Main runs a command as a process: run gets a context cancelled on SIGINT
// or SIGTERM and the arguments; its error is printed as "name: error" and
// the process exits with Status(err).
func Main(name string, run func(ctx context.Context, args []string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Report(name, run(ctx, os.Args[1:]), os.Stderr)
	stop()
	os.Exit(code)
}

// Report prints err as a user sees it and returns the exit status: Main
// minus the process, for tests.
func Report(name string, err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return Status(err)
}

// Status is ExitUsage for bad usage, passes a child's exit status through
// (an error with an ExitCode method above 0, such as *exec.ExitError, so
// scripts can test a command eksnet ran) and is ExitFailure otherwise.
func Status(err error) int {
	if err == nil {
		return 0
	}
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) && coded.ExitCode() > 0 {
		return coded.ExitCode()
	}
	return ExitFailure
}

// UsageError marks an error as bad usage (exit status 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode makes Status return ExitUsage.
func (e *UsageError) ExitCode() int { return ExitUsage }

// Usage marks err as bad usage; nil stays nil.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return &UsageError{Err: err}
}

// Usagef is fmt.Errorf for errors the user fixes by changing the command
// line: an invalid flag value, a missing or extra argument.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// IsUsage reports whether err is bad usage.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// HelpHint is the line every usage error ends with.
func HelpHint(cmd *cobra.Command) string {
	return fmt.Sprintf("usage: %s (see `%s --help`)", cmd.UseLine(), cmd.CommandPath())
}

// NoArgs replaces cobra.NoArgs, whose message calls an argument an
// "unknown command".
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return Usagef("unexpected argument %q: %s takes no arguments\n%s", args[0], cmd.CommandPath(), HelpHint(cmd))
}

// CheckOutput is the error for an -o/--output value outside accepted.
func CheckOutput(value string, accepted ...string) error {
	for _, a := range accepted {
		if value == a {
			return nil
		}
	}
	return Usagef("-o/--output %q: accepted values are %s", value, strings.Join(accepted, ", "))
}

// Execute runs root with args, its output on stdout and stderr. Every error
// cobra raises before a RunE starts (unknown command or flag, wrong
// arguments, a required flag missing) comes back as a UsageError; errors
// after that are the command's own, classified where they are made.
func Execute(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) error {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ran := false
	classify(root, &ran)
	err := root.ExecuteContext(ctx)
	if err != nil && !ran && !IsUsage(err) {
		err = &UsageError{Err: err}
	}
	return err
}

// classify walks the command tree: flag errors end with the help hint, a
// RunE sets ran when it starts, and a group command (one with subcommands
// and nothing to run) given an unknown subcommand says so instead of
// printing help and exiting 0.
func classify(cmd *cobra.Command, ran *bool) {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return Usagef("%w\n%s", err, HelpHint(c))
	})
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			*ran = true
			return run(c, args)
		}
	} else if cmd.Run == nil && cmd.HasSubCommands() {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = unknownSubcommand
	}
	for _, sub := range cmd.Commands() {
		classify(sub, ran)
	}
}

func unknownSubcommand(c *cobra.Command, args []string) error {
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
	return Usagef("unknown command %q for %q%s; accepted commands are %s\n%s",
		args[0], c.CommandPath(), hint, strings.Join(names, ", "), HelpHint(c))
}
