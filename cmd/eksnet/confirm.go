package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/eksnet/eksnet/infra/plan"
	"github.com/eksnet/eksnet/internal/cli"
	"github.com/eksnet/eksnet/stacks"
)

// errNotConfirmed is returned when the user answers anything but yes.
var errNotConfirmed = errors.New("not confirmed; nothing was changed")

// stdinIsTerminal reports whether the process's stdin is a terminal (a
// character device), the only stdin a confirmation may be read from.
func stdinIsTerminal() bool {
	st, err := os.Stdin.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// checkPulumi is what up and destroy check before anything else: the
// pulumi CLI they drive, then the passphrase its secrets need, so a user
// never reads a plan and confirms only to hear the CLI is missing.
func (a *app) checkPulumi() error {
	if _, err := findPulumi(a.getenv); err != nil {
		return err
	}
	if a.getenv("PULUMI_CONFIG_PASSPHRASE") == "" && a.getenv("PULUMI_CONFIG_PASSPHRASE_FILE") == "" {
		return errPassphraseMissing
	}
	return nil
}

// confirmPlan prints what cfg plans (for destroy: what it would delete)
// and asks before verb runs against AWS; yes skips the question. Without a
// terminal to ask on, it refuses (bad usage: --yes was needed), so a
// script never hangs on a prompt or applies what nobody read.
func (a *app) confirmPlan(ctx context.Context, cfg stacks.Config, verb string, yes bool) error {
	if err := a.requireTerminal(verb, cfg.Env, "review `eksnet plan "+cfg.Env+"`", yes); err != nil {
		return err
	}
	p, err := plan.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if verb == "destroy" {
		fmt.Fprintf(a.stdout, "destroy deletes every resource of stack %s; as its configuration plans them:\n\n", cfg.Env)
	}
	if err := plan.WriteText(a.stdout, p); err != nil {
		return err
	}
	return a.confirm(verb, cfg.Env, fmt.Sprintf("%s stack %s in %s (account of the current AWS credentials)?", verb, cfg.Env, cfg.Region), yes)
}

// requireTerminal refuses verb (bad usage) when it would have to ask and
// stdin is no terminal; review says what to read before passing --yes.
func (a *app) requireTerminal(verb, env, review string, yes bool) error {
	if !yes && !a.interactive {
		return cli.Usagef("%s %s: stdin is not a terminal, so eksnet cannot ask for confirmation; %s and pass --yes", verb, env, review)
	}
	return nil
}

// confirm asks question on stdin and accepts only yes (or y); yes skips
// the question and says so.
func (a *app) confirm(verb, env, question string, yes bool) error {
	if yes {
		fmt.Fprintf(a.stdout, "\n%s: confirmed by --yes\n", strings.TrimSuffix(question, "?"))
		return nil
	}
	fmt.Fprintf(a.stdout, "\n%s Type yes to continue: ", question)
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("%s %s: reading the answer: %w", verb, env, err)
	}
	if answer := strings.TrimSpace(strings.ToLower(line)); answer != "yes" && answer != "y" {
		return fmt.Errorf("%s %s: %w", verb, env, errNotConfirmed)
	}
	return nil
}
