package sim_test

import (
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/eksnet/eksnet/cni-agent/sim"
)

func TestSmoke(t *testing.T) {
	vpc := newVPC(t, sim.Config{})
	n := addNode(t, vpc, sim.NodeSpec{Name: "node-0", InstanceType: "t3.medium"})
	ctx := context.Background()
	out, err := ec2From(vpc, n).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *out.Reservations[0].Instances[0].InstanceId)
	m, err := imdsFrom(vpc, n).GetMetadata(ctx, &imds.GetMetadataInput{Path: "instance-id"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(m.Content)
	t.Logf("imds %s", b)
}
