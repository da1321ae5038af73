package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/internal/cli"
)

// TestUsageAndVersionAsEksnet: the agent answers bad usage as eksnet does
// (exit 2, the closest command, a help hint) and prints its build with
// --version and version, as the same scaffolding does for eksnet.
func TestUsageAndVersionAsEksnet(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"stauts"}, cli.ExitUsage, `unknown command "stauts" for "eksnet-agent" (did you mean status?)`},
		{[]string{"status", "extra"}, cli.ExitUsage, "eksnet-agent status takes no arguments"},
		{[]string{"run", "--bogus"}, cli.ExitUsage, "see `eksnet-agent run --help`"},
		{[]string{"--version"}, 0, "eksnet-agent dev ("},
		{[]string{"version"}, 0, "eksnet-agent dev ("},
	} {
		var out bytes.Buffer
		a := &app{stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
		code := cli.Report("eksnet-agent", runWith(context.Background(), tt.args, a), &out)
		if code != tt.code || !strings.Contains(out.String(), tt.want) {
			t.Errorf("eksnet-agent %s: exit %d, output %q; want exit %d and %q", strings.Join(tt.args, " "), code, out.String(), tt.code, tt.want)
		}
	}
}
