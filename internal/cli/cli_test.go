package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// tree is a program shaped like ours: a leaf with a flag and a group with
// one subcommand, plus version.
func tree(stdout *bytes.Buffer) *cobra.Command {
	root := &cobra.Command{Use: "prog", SilenceUsage: true, SilenceErrors: true}
	leaf := &cobra.Command{Use: "leaf", Args: NoArgs, RunE: func(*cobra.Command, []string) error { return errors.New("leaf failed") }}
	leaf.Flags().Int("count", 0, "")
	group := &cobra.Command{Use: "group"}
	group.AddCommand(&cobra.Command{Use: "start", RunE: func(*cobra.Command, []string) error { return nil }})
	root.AddCommand(leaf, group)
	AddVersion(root, BuildInfo{Program: "prog", Version: "v1.2.3", GoVersion: "go1.26", Platform: "linux/amd64"}, stdout)
	return root
}

// TestExitStatusAndMessages: what a user of either binary sees for each
// kind of mistake, and the status a script gets.
func TestExitStatusAndMessages(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"leaf"}, ExitFailure, []string{"prog: leaf failed"}},
		{[]string{"leaf", "extra"}, ExitUsage, []string{`unexpected argument "extra": prog leaf takes no arguments`, "usage: prog leaf [flags] (see `prog leaf --help`)"}},
		{[]string{"leaf", "--bogus"}, ExitUsage, []string{"unknown flag: --bogus", "see `prog leaf --help`"}},
		{[]string{"leaf", "--count", "many"}, ExitUsage, []string{`invalid argument "many" for "--count"`}},
		{[]string{"laef"}, ExitUsage, []string{`unknown command "laef" for "prog" (did you mean leaf?)`}},
		{[]string{"group", "strat"}, ExitUsage, []string{`unknown command "strat" for "prog group" (did you mean start?); accepted commands are start`}},
		{[]string{"version", "-o", "yaml"}, ExitUsage, []string{`-o/--output "yaml": accepted values are table, json`}},
		{[]string{"group", "start"}, 0, nil},
	} {
		var out, errb bytes.Buffer
		code := Report("prog", Execute(context.Background(), tree(&out), tt.args, &out, &errb), &errb)
		if code != tt.code {
			t.Errorf("prog %s: exit %d, want %d; stderr: %s", strings.Join(tt.args, " "), code, tt.code, errb.String())
		}
		for _, w := range tt.want {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("prog %s: stderr lacks %q:\n%s", strings.Join(tt.args, " "), w, errb.String())
			}
		}
	}
}

// TestStatusPassesAChildsStatusThrough: a command that ran a child process
// exits with the child's status, however deep the error is wrapped.
func TestStatusPassesAChildsStatusThrough(t *testing.T) {
	child := exec.Command("sh", "-c", "exit 3").Run()
	if got := Status(fmt.Errorf("sh in node-0: %w", child)); got != 3 {
		t.Errorf("Status(child exited 3) = %d, want 3", got)
	}
	if got := Status(fmt.Errorf("wrapped: %w", Usagef("bad"))); got != ExitUsage {
		t.Errorf("Status(wrapped usage error) = %d, want %d", got, ExitUsage)
	}
	if Usage(nil) != nil {
		t.Error("Usage(nil) is not nil")
	}
}

// TestVersionFlagAndCommandAgree: --version and `version` print the same
// line; -o json carries the program's name.
func TestVersionFlagAndCommandAgree(t *testing.T) {
	var flag, sub, js bytes.Buffer
	if err := Execute(context.Background(), tree(&flag), []string{"--version"}, &flag, &flag); err != nil {
		t.Fatal(err)
	}
	if err := Execute(context.Background(), tree(&sub), []string{"version"}, &sub, &sub); err != nil {
		t.Fatal(err)
	}
	if want := "prog v1.2.3 (unknown commit) go1.26 linux/amd64\n"; flag.String() != want || sub.String() != want {
		t.Errorf("--version %q, version %q; want both %q", flag.String(), sub.String(), want)
	}
	if err := Execute(context.Background(), tree(&js), []string{"version", "-o", "json"}, &js, &js); err != nil {
		t.Fatal(err)
	}
	var b BuildInfo
	if err := json.Unmarshal(js.Bytes(), &b); err != nil || b.Program != "prog" || b.Version != "v1.2.3" {
		t.Errorf("version -o json = %s (%v)", js.String(), err)
	}
}
