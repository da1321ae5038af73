package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// Detached ENIs carrying the cluster tag are deleted: this instance's at
// once, another instance's only when older than a few minutes (it may be
// between create and attach right now); other clusters' never.
func TestLeakedENIsAreCollected(t *testing.T) {
	vpc := newVPC(t)
	node := addNode(t, vpc, "gc", "t3.medium")
	c := ec2.New(ec2.Options{Region: vpc.Region(), BaseEndpoint: aws.String(vpc.EC2Endpoint()),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIATEST", SecretAccessKey: "test"}, nil
		}), HTTPClient: node.HTTPClient()})
	create := func(cluster, instance string, created time.Time) string {
		out, err := c.CreateNetworkInterface(context.Background(), &ec2.CreateNetworkInterfaceInput{
			SubnetId: aws.String(node.SubnetID),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeNetworkInterface, Tags: []types.Tag{
				{Key: aws.String("eksnet.io/cluster"), Value: aws.String(cluster)},
				{Key: aws.String("eksnet.io/instance-id"), Value: aws.String(instance)},
				{Key: aws.String("eksnet.io/created-at"), Value: aws.String(created.UTC().Format(time.RFC3339))},
			}}},
		})
		if err != nil {
			t.Fatalf("creating a leaked ENI: %v", err)
		}
		return aws.ToString(out.NetworkInterface.NetworkInterfaceId)
	}
	now := time.Now()
	own := create("agent-test", node.InstanceID, now)
	oldPeer := create("agent-test", "i-0terminated", now.Add(-time.Hour))
	youngPeer := create("agent-test", "i-0peer", now)
	otherCluster := create("another-cluster", node.InstanceID, now.Add(-time.Hour))

	ag := startAgent(t, node, "", map[string]string{"EKSNET_MODE": "secondary", "EKSNET_RECONCILE_INTERVAL": "1s"})
	ag.waitFor("ready", 30*time.Second, func(s rpc.Status) bool { return s.Ready })
	exists := func(id string) bool {
		out, err := c.DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{
			Filters: []types.Filter{{Name: aws.String("network-interface-id"), Values: []string{id}}}})
		if err != nil {
			t.Fatalf("describing %s: %v", id, err)
		}
		return len(out.NetworkInterfaces) == 1
	}
	ag.waitFor("own and old leaked ENIs deleted", 15*time.Second, func(rpc.Status) bool { return !exists(own) && !exists(oldPeer) })
	if !exists(youngPeer) || !exists(otherCluster) {
		t.Fatalf("deleted an ENI it must keep: young peer's exists=%v, other cluster's exists=%v", exists(youngPeer), exists(otherCluster))
	}
}
