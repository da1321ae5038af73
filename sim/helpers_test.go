package sim_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/eksnet/eksnet/sim"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
}

// newVPC builds a simulated VPC that is removed when the test ends, and
// checks that nothing of it is left.
func newVPC(t *testing.T, cfg sim.Config) *sim.VPC {
	t.Helper()
	needRoot(t)
	if cfg.Logger == nil && testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vpc, err := sim.New(ctx, cfg)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	t.Cleanup(func() {
		if err := vpc.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if left, _ := sim.Namespaces(vpc.Name()); len(left) > 0 {
			t.Errorf("namespaces left after Close: %v", left)
		}
	})
	return vpc
}

func addNode(t *testing.T, vpc *sim.VPC, spec sim.NodeSpec) *sim.Node {
	t.Helper()
	n, err := vpc.AddNode(context.Background(), spec)
	if err != nil {
		t.Fatalf("AddNode(%+v): %v", spec, err)
	}
	return n
}

var fakeCreds = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIASIMULATEDVPC0000", SecretAccessKey: "secret", Source: "test"}, nil
})

// ec2From is the real SDK client, dialing from inside the node; no retries so
// each injected or provoked error is seen once.
func ec2From(vpc *sim.VPC, n *sim.Node) *ec2.Client {
	return ec2.New(ec2.Options{Region: vpc.Region(), BaseEndpoint: aws.String(vpc.EC2Endpoint()),
		Credentials: fakeCreds, HTTPClient: n.HTTPClient(), Retryer: aws.NopRetryer{}})
}

func imdsFrom(vpc *sim.VPC, n *sim.Node) *imds.Client {
	return imds.New(imds.Options{Endpoint: vpc.IMDSEndpoint(), HTTPClient: n.HTTPClient(),
		Retryer: aws.NopRetryer{}})
}
