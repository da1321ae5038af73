package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/internal/cli"
)

// TestPlanPresetAndStackFileErrors: plan --preset needs no stack file; a
// missing stack names the preset of its name; a malformed stack file is a
// parse error with line and column, and a value of the wrong type names the
// key path and the type wanted.
func TestPlanPresetAndStackFileErrors(t *testing.T) {
	dir := newProject(t)
	pd := []string{"--project-dir", dir}
	out, stderr, code := runCLI(t, nil, "", append([]string{"plan", "--preset", "staging", "--region", "eu-west-1"}, pd...)...)
	if code != 0 || !strings.Contains(out, "Plan for stack staging (preset staging, eu-west-1)") || !strings.Contains(out, "private-eu-west-1c") {
		t.Fatalf("plan --preset staging: exit %d\n%s\n%s", code, stderr, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "stacks")); !os.IsNotExist(err) {
		t.Errorf("plan --preset wrote a stack dir: %v", err)
	}

	write := func(env, yaml string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, "stacks"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "stacks", "Pulumi."+env+".yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("broken", "config:\n  aws:region: us-west-2\n  eksnet:cni: mode: agent\n")
	write("typed", "config:\n  aws:region: us-west-2\n  eksnet:nodeGroups:\n    - name: general\n      maxSize: many\n")
	write("flag", "config:\n  aws:region: us-west-2\n  eksnet:protect: yes\n")
	for _, tt := range []struct {
		args []string
		code int
		want []string
		not  string
	}{
		{[]string{"plan", "staging"}, cli.ExitFailure, []string{"create it with `eksnet stack new staging --preset staging --region R`", "`eksnet plan --preset staging`"}, ""},
		{[]string{"plan", "team-a"}, cli.ExitFailure, []string{"create it with `eksnet stack new team-a --preset dev|staging|prod --region R`"}, "eksnet plan --preset"},
		{[]string{"plan", "broken"}, cli.ExitFailure, []string{"stacks/Pulumi.broken.yaml: line 3, column 19: mapping values are not allowed in this context"}, "create it"},
		{[]string{"plan", "typed"}, cli.ExitFailure, []string{"stacks/Pulumi.typed.yaml: line 5, column 16: config key eksnet:nodeGroups[0].maxSize: want an integer, got a string (\"many\")"}, ""},
		{[]string{"plan", "flag"}, cli.ExitFailure, []string{"line 3, column 19: config key eksnet:protect: want true or false, got \"yes\""}, ""},
		{[]string{"plan", "typed", "--preset", "dev"}, cli.ExitUsage, []string{"ENV typed and --preset dev: give one of them"}, ""},
		{[]string{"plan", "--preset", "tiny"}, cli.ExitUsage, []string{`--preset: preset "tiny": accepted values are dev, staging, prod`}, ""},
	} {
		_, stderr, code := runCLI(t, nil, "", append(tt.args, pd...)...)
		if code != tt.code {
			t.Errorf("eksnet %s: exit %d, want %d\n%s", strings.Join(tt.args, " "), code, tt.code, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("eksnet %s: stderr lacks %q:\n%s", strings.Join(tt.args, " "), w, stderr)
			}
		}
		if tt.not != "" && strings.Contains(stderr, tt.not) {
			t.Errorf("eksnet %s: stderr has %q:\n%s", strings.Join(tt.args, " "), tt.not, stderr)
		}
	}
}
