package main

import (
	"strings"
	"testing"

	"github.com/eksnet/eksnet/internal/cli"
)

// TestSilentInputsAreErrors: inputs that used to be accepted and ignored
// (agent flags with the AWS VPC CNI, a region or zone that does not exist,
// agent bundles in aws-vpc-cni mode) are errors naming the flag or key and
// what is accepted.
func TestSilentInputsAreErrors(t *testing.T) {
	dir := newProject(t)
	pd := []string{"--project-dir", dir}
	if _, stderr, code := runCLI(t, nil, "", append([]string{"stack", "new", "dev", "--preset", "dev", "--region", "us-east-2"}, pd...)...); code != 0 {
		t.Fatal(stderr)
	}
	ud := []string{"userdata", "--cluster", "dev", "--endpoint", "https://x.eks.amazonaws.com", "--ca", "Y2E=", "--service-cidr", "172.20.0.0/16", "--instance-type", "t3.medium", "--cni", "aws-vpc-cni"}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{append(ud, "--warm-ip-target", "3", "--external-snat"), cli.ExitUsage, "--warm-ip-target, --external-snat: configure the eksnet agent, which --cni aws-vpc-cni does not run"},
		{append(ud, "--agent-url", "https://x/{arch}"), cli.ExitUsage, "--agent-url: configure the eksnet agent"},
		{append(pd, "stack", "new", "qa", "--preset", "dev", "--region", "us-west-3"), cli.ExitUsage, `aws:region: "us-west-3" is not an AWS region; did you mean us-west-1, us-west-2`},
		{append(pd, "plan", "--preset", "dev", "--region", "eu-centrl-1"), cli.ExitUsage, `"eu-centrl-1" is not an AWS region; did you mean eu-central-1`},
		{append(pd, "stack", "set", "dev", "network.availabilityZones[0]", "us-east-2a", "network.availabilityZones[1]", "us-east-2d"), cli.ExitUsage, `eksnet:network.availabilityZones: "us-east-2d" is not a zone of region us-east-2; did you mean us-east-2a`},
		{append(pd, "stack", "set", "dev", "network.azCount", "4"), cli.ExitUsage, "eksnet:network.azCount 4: region us-east-2 has 3 availability zones (us-east-2a, us-east-2b, us-east-2c); accepted values are 2 to 3"},
		{append(pd, "plan", "--preset", "staging", "--region", "ca-central-1"), 0, "private-ca-central-1d"},
		{append(pd, "stack", "set", "dev", "network.availabilityZones[0]", "us-east-2a", "network.availabilityZones[1]", "us-east-2c"), 0, "set eksnet:network.availabilityZones[1] = us-east-2c"},
	} {
		out, stderr, code := runCLI(t, nil, "", tt.args...)
		if code != tt.code || !strings.Contains(stderr+out, tt.want) {
			t.Errorf("eksnet %s: exit %d (want %d), output lacks %q:\n%s", strings.Join(tt.args, " "), code, tt.code, tt.want, stderr)
		}
	}
	// Agent bundles are refused once the stack uses the AWS VPC CNI.
	if _, stderr, code := runCLI(t, nil, "", append([]string{"stack", "set", "dev", "cni.mode", "aws-vpc-cni"}, pd...)...); code != 0 {
		t.Fatal(stderr)
	}
	_, stderr, code := runCLI(t, nil, "", append([]string{"stack", "set", "dev", "cni.agent.amd64Path", "/tmp/b.tar.gz"}, pd...)...)
	if code != cli.ExitUsage || !strings.Contains(stderr, "eksnet:cni.agent.amd64Path: set, but eksnet:cni.mode is aws-vpc-cni, which runs no eksnet agent") {
		t.Errorf("agent bundle with aws-vpc-cni: exit %d, %s", code, stderr)
	}
}
