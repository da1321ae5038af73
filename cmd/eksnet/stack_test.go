package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/internal/cli"
)

// TestStackSetGet: stack set writes what `pulumi config set --path` writes
// (sorted eksnet: keys, typed values below the top level, top-level values
// strings), stack get reads the value in effect, and a bad key or value is
// an error naming it with the file untouched.
func TestStackSetGet(t *testing.T) {
	dir := newProject(t)
	pd := []string{"--project-dir", dir}
	eksnet := func(args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, nil, "", append(args, pd...)...)
	}
	if _, stderr, code := eksnet("stack", "new", "dev", "--preset", "dev", "--region", "us-west-2"); code != 0 {
		t.Fatal(stderr)
	}
	for _, kv := range [][2]string{
		{"network.nat", "per-az"},
		{"eksnet:nodeGroups[0].maxSize", "6"},
		{"cluster.publicAccessCidrs[0]", "203.0.113.7/32"},
		{"cluster.endpointPrivateAccess", "true"},
		{"kubernetesVersion", "1.32"},
		{"protect", "true"},
	} {
		out, stderr, code := eksnet("stack", "set", "dev", kv[0], kv[1])
		if code != 0 || !strings.Contains(out, "set eksnet:"+strings.TrimPrefix(kv[0], "eksnet:")+" = "+kv[1]+"\nin "+filepath.Join(dir, "stacks", "Pulumi.dev.yaml")) {
			t.Fatalf("stack set dev %s %s: exit %d\n%s%s", kv[0], kv[1], code, out, stderr)
		}
	}
	path := filepath.Join(dir, "stacks", "Pulumi.dev.yaml")
	want := `config:
  aws:region: us-west-2
  eksnet:cluster:
    endpointPrivateAccess: true
    publicAccessCidrs:
      - 203.0.113.7/32
  eksnet:clusterName: eksnet-dev
  eksnet:kubernetesVersion: "1.32"
  eksnet:network:
    nat: per-az
  eksnet:nodeGroups:
    - maxSize: 6
  eksnet:preset: dev
  eksnet:protect: "true"
`
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Fatalf("stack file after set (%v):\n%s\nwant:\n%s", err, got, want)
	}

	for key, val := range map[string]string{
		"network.nat":           "per-az",
		"nodeGroups[0].maxSize": "6",
		"nodeGroups[0].name":    "general", // the preset's, merged under the override
		"kubernetesVersion":     "1.32",
		"protect":               "true",
		"aws:region":            "us-west-2",
		"cni.mode":              "agent",
		"cluster.logTypes":      `["api","audit"]`,
	} {
		out, stderr, code := eksnet("stack", "get", "dev", key)
		if code != 0 || out != val+"\n" {
			t.Errorf("stack get dev %s: exit %d, %q (want %q) %s", key, code, out, val, stderr)
		}
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"set", "dev", "network.nat", "sometimes"}, cli.ExitUsage, `eksnet:network.nat "sometimes" would make stack dev invalid: eksnet:network.nat "sometimes": accepted values are none, single, per-az`},
		{[]string{"set", "dev", "network.azCount", "three"}, cli.ExitUsage, `stack dev: config key eksnet:network.azCount: want an integer, got a string ("three")`},
		{[]string{"set", "dev", "netwrk.nat", "single"}, cli.ExitUsage, "config key eksnet:netwrk: unknown (did you mean eksnet:network?); accepted keys are eksnet:preset"},
		{[]string{"set", "dev", "network.cidr", "10.1.0.0/16"}, cli.ExitUsage, "config key eksnet:network.cidr: unknown field; accepted fields here are vpcCidr"},
		{[]string{"set", "dev", "nodeGroups[2].maxSize", "3"}, cli.ExitUsage, "eksnet:nodeGroups[2]: the list in the file has 1 entries (indices 0 to 0); set [1] to append"},
		{[]string{"set", "dev", "gcp:project", "x"}, cli.ExitUsage, "key gcp:project: eksnet reads eksnet:preset"},
		{[]string{"set", "dev", "network.nat"}, cli.ExitUsage, "missing VALUE: the value to set"},
		{[]string{"set", "dev"}, cli.ExitUsage, "missing KEY: the config key, e.g. network.nat"},
		{[]string{"set", "qa", "network.nat", "single"}, cli.ExitFailure, "create it with `eksnet stack new qa --preset dev|staging|prod --region R`"},
		{[]string{"get", "dev", "network.foo"}, cli.ExitUsage, "eksnet:network has no field foo; accepted fields are vpcCidr"},
		{[]string{"get", "dev"}, cli.ExitUsage, "missing KEY"},
		{[]string{"set", "dev", "network.vpcCidr", "10.0.0.0/24"}, cli.ExitUsage, "private subnet prefix /20: larger than the block 10.0.0.0/24 it is cut from; use a prefix length of 24 to 28, or a larger block"},
		{[]string{"set", "dev", "network.nat", "single", "protect"}, cli.ExitUsage, "missing VALUE for KEY protect: settings come in KEY VALUE pairs"},
		{[]string{"set", "dev", "network.availabilityZones[0]", "us-west-2a"}, cli.ExitUsage, "EKS needs at least 2 zones"},
	} {
		_, stderr, code := eksnet(append([]string{"stack"}, tt.args...)...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("stack %s: exit %d (want %d), stderr %q lacks %q", strings.Join(tt.args, " "), code, tt.code, stderr, tt.want)
		}
		if b, _ := os.ReadFile(path); string(b) != want {
			t.Fatalf("stack %s changed the file:\n%s", strings.Join(tt.args, " "), b)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("files beside the stack file: %v", entries)
	}

	// A stack already invalid (mid-fix) may be edited; set says what still fails.
	broken := "config:\n  aws:region: us-west-2\n  eksnet:network:\n    nat: sometimes\n"
	if err := os.WriteFile(filepath.Join(dir, "stacks", "Pulumi.wip.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := eksnet("stack", "set", "wip", "network.azCount", "3")
	if code != 0 || !strings.Contains(stderr, `warning: stack wip is still invalid: eksnet:network.nat "sometimes"`) {
		t.Errorf("stack set on an invalid stack: exit %d, %s", code, stderr)
	}
	if out, _, _ := eksnet("stack", "get", "wip", "network.azCount"); out != "3\n" {
		t.Errorf("stack get wip network.azCount = %q", out)
	}
}
