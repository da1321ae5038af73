package main

import (
	"context"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/internal/cli"
)

// runCLI runs the CLI as the process does (error printed, exit status
// computed) with a pinned environment and the given stdin.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	a, out, errb := testApp(env)
	if stdin != "" {
		a.stdin = strings.NewReader(stdin)
	}
	code = runMain(context.Background(), args, a)
	return out.String(), errb.String(), code
}

// TestExitCodesAndUsageMessages: bad usage exits 2 with a message naming
// what is missing or wrong and how to get help; a failed operation exits 1.
func TestExitCodesAndUsageMessages(t *testing.T) {
	dir := newProject(t)
	if _, _, code := runCLI(t, nil, "", "stack", "new", "dev", "--preset", "dev", "--region", "us-west-2", "--project-dir", dir); code != 0 {
		t.Fatalf("stack new: exit %d", code)
	}
	pd := []string{"--project-dir", dir}
	for _, tt := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"plan"}, cli.ExitUsage, []string{"missing ENV: the stack name (stacks/Pulumi.ENV.yaml); one of dev", "usage: eksnet plan ENV", "`eksnet plan --help`"}},
		{[]string{"plan", "dev", "prod"}, cli.ExitUsage, []string{"eksnet plan takes one ENV, got 2 arguments: dev prod"}},
		{[]string{"preview"}, cli.ExitUsage, []string{"missing ENV"}},
		{[]string{"up"}, cli.ExitUsage, []string{"missing ENV"}},
		{[]string{"destroy"}, cli.ExitUsage, []string{"missing ENV"}},
		{[]string{"kubeconfig"}, cli.ExitUsage, []string{"missing ENV"}},
		{[]string{"enis", "sweep"}, cli.ExitUsage, []string{"missing ENV: the stack name (stacks/Pulumi.ENV.yaml); one of dev", "usage: eksnet enis sweep ENV"}},
		{[]string{"enis", "swep"}, cli.ExitUsage, []string{`unknown command "swep" for "eksnet enis" (did you mean sweep?); accepted commands are sweep`}},
		{[]string{"stack", "new", "--preset", "dev"}, cli.ExitUsage, []string{"missing ENV: the name of the new stack"}},
		{[]string{"stack", "new", "qa"}, cli.ExitUsage, []string{`required flag(s) "preset" not set`}},
		{[]string{"plan", "dev", "--bogus"}, cli.ExitUsage, []string{"unknown flag: --bogus", "usage: eksnet plan ENV | plan --preset dev|staging|prod [--region R] [flags] (see `eksnet plan --help`)"}},
		{[]string{"plna"}, cli.ExitUsage, []string{`unknown command "plna" for "eksnet" (did you mean plan?)`, "accepted commands are", ", destroy, enis, kubeconfig,"}},
		{[]string{"stack", "nwe"}, cli.ExitUsage, []string{`unknown command "nwe" for "eksnet stack" (did you mean new?)`}},
		{[]string{"maxpods"}, cli.ExitUsage, []string{"missing TYPE: give one or more EC2 instance types"}},
		{[]string{"maxpods", "t3.mediun"}, cli.ExitUsage, []string{"did you mean t3.medium"}},
		{[]string{"maxpods", "t3.medium", "-o", "yaml"}, cli.ExitUsage, []string{`-o/--output "yaml": accepted values are table, json`}},
		{[]string{"plan", "dev", "-o", "yaml"}, cli.ExitUsage, []string{`-o/--output "yaml": accepted values are text, json`}},
		{[]string{"version", "extra"}, cli.ExitUsage, []string{`unexpected argument "extra": eksnet version takes no arguments`}},
		{[]string{"userdata"}, cli.ExitUsage, []string{"--instance-type: required"}},
		{[]string{"plan", "missing"}, cli.ExitFailure, []string{"stack missing"}},
		{[]string{"stack", "new", "dev", "--preset", "dev", "--region", "us-west-2"}, cli.ExitFailure, []string{"exists"}},
	} {
		args := append(append([]string{}, tt.args...), pd...)
		switch tt.args[0] {
		case "maxpods", "version", "userdata", "plna":
			args = tt.args
		}
		if (tt.args[0] == "stack" && tt.args[1] == "nwe") || (tt.args[0] == "enis" && tt.args[1] == "swep") {
			args = tt.args
		}
		_, stderr, code := runCLI(t, nil, "", args...)
		if code != tt.code {
			t.Errorf("eksnet %s: exit %d, want %d; stderr:\n%s", strings.Join(tt.args, " "), code, tt.code, stderr)
		}
		if strings.Contains(stderr, "arg(s)") {
			t.Errorf("eksnet %s: cobra's stock argument message: %s", strings.Join(tt.args, " "), stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("eksnet %s: stderr lacks %q:\n%s", strings.Join(tt.args, " "), w, stderr)
			}
		}
	}
}

func TestVersionFlag(t *testing.T) {
	flagOut, _, code := runCLI(t, nil, "", "--version")
	if code != 0 || !strings.HasPrefix(flagOut, "eksnet ") {
		t.Fatalf("eksnet --version: exit %d, %q", code, flagOut)
	}
	cmdOut, _, _ := runCLI(t, nil, "", "version")
	if flagOut != cmdOut {
		t.Errorf("--version printed %q, version printed %q", flagOut, cmdOut)
	}
}
