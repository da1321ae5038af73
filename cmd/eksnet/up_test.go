package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/internal/cli"
	"github.com/eksnet/eksnet/internal/stacktest"
	"github.com/eksnet/eksnet/stacks"
)

// fakePulumi is an environment with a pulumi "CLI" in ~/.pulumi/bin that
// reports a version and fails everything else, and a passphrase: enough to
// get past every local check and fail at the first real Pulumi call.
func fakePulumi(t *testing.T) map[string]string {
	t.Helper()
	home := t.TempDir()
	bin := filepath.Join(home, ".pulumi", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nif [ \"$1\" = version ]; then echo v3.200.0; exit 0; fi\necho \"fake pulumi: $*\" >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "pulumi"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"HOME": home, "PATH": t.TempDir(), "PULUMI_CONFIG_PASSPHRASE": "x"}
}

// TestUpDestroyConfirm: up and destroy check the pulumi CLI before anything
// else, print the plan and ask; --yes skips the question; a non-terminal
// stdin without --yes is refused with exit status 2 before anything runs.
func TestUpDestroyConfirm(t *testing.T) {
	dir := newProject(t)
	pd := []string{"--project-dir", dir}
	args := [][]string{
		{"stack", "new", "dev", "--preset", "dev", "--region", "us-west-2"},
		{"stack", "set", "dev", "cni.mode", "aws-vpc-cni"},
	}
	devPreset, err := stacks.Preset(stacks.PresetDev, "dev", "us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stacktest.Settings(devPreset) {
		args = append(args, []string{"stack", "set", "dev", s.Key, s.Value})
	}
	for _, args := range args {
		if _, stderr, code := runCLI(t, nil, "", append(args, pd...)...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}

	// No pulumi CLI: said first, even before the stack is read.
	for _, verb := range []string{"up", "destroy"} {
		_, stderr, code := runCLI(t, map[string]string{"PATH": t.TempDir(), "HOME": t.TempDir()}, "", append([]string{verb, "no-such-stack"}, pd...)...)
		if code != cli.ExitFailure || !strings.Contains(stderr, "the pulumi CLI was not found") || strings.Contains(stderr, "no-such-stack") {
			t.Errorf("%s without pulumi: exit %d, %s", verb, code, stderr)
		}
	}

	env := fakePulumi(t)
	run := func(interactive bool, stdin string, args ...string) (string, string, int, error) {
		t.Helper()
		a, out, errb := testApp(env)
		a.interactive = interactive
		a.stdin = strings.NewReader(stdin)
		err := runWith(t.Context(), append(args, pd...), a)
		code := 0
		if err != nil {
			code = cli.Status(err)
			errb.WriteString(err.Error())
		}
		return out.String(), errb.String(), code, err
	}
	for _, verb := range []string{"up", "destroy"} {
		out, stderr, code, _ := run(false, "yes\n", verb, "dev")
		if code != cli.ExitUsage || !strings.Contains(stderr, verb+" dev: stdin is not a terminal, so eksnet cannot ask for confirmation; review `eksnet plan dev` and pass --yes") || out != "" {
			t.Errorf("%s on a non-terminal: exit %d, stdout %q, stderr %s", verb, code, out, stderr)
		}

		out, stderr, code, err := run(true, "no\n", verb, "dev")
		if code != cli.ExitFailure || !errors.Is(err, errNotConfirmed) || !strings.Contains(out, "Plan for stack dev") ||
			!strings.Contains(out, verb+" stack dev in us-west-2 (account of the current AWS credentials)? Type yes to continue: ") {
			t.Errorf("%s answered no: exit %d, %v\n%s", verb, code, stderr, out)
		}

		// Confirmed (by answer or --yes): on to Pulumi, which the fake fails.
		for _, tc := range []struct {
			interactive bool
			stdin       string
			args        []string
		}{{true, "yes\n", []string{verb, "dev"}}, {false, "", []string{verb, "dev", "--yes"}}} {
			out, stderr, _, err := run(tc.interactive, tc.stdin, tc.args...)
			if err == nil || errors.Is(err, errNotConfirmed) || cli.IsUsage(err) || !strings.Contains(out, "Plan for stack dev") || !strings.Contains(stderr, "fake pulumi") {
				t.Errorf("%v confirmed: %v\n%s", tc.args, stderr, out)
			}
		}
	}
	if out, _, _, _ := run(false, "", "destroy", "dev", "--yes"); !strings.Contains(out, "destroy deletes every resource of stack dev") {
		t.Errorf("destroy does not say what it deletes:\n%s", out)
	}
}
