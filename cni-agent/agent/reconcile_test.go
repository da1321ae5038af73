package agent_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// Someone unassigns a pool address behind the agent's back: the periodic
// reconcile notices (IMDS), adopts EC2's view, never hands the address out
// and refills the pool.
func TestReconcileAdoptsChangesMadeBehindItsBack(t *testing.T) {
	vpc := newVPC(t)
	node := addNode(t, vpc, "recon", "t3.medium")
	ag := startAgent(t, node, "", map[string]string{
		"EKSNET_MODE": "secondary", "EKSNET_WARM_IP_TARGET": "3", "EKSNET_RECONCILE_INTERVAL": "1s",
	})
	st := ag.waitFor("3 warm addresses", 30*time.Second, func(s rpc.Status) bool { return s.Total == 3 })
	eni := st.ENIs[0].ID
	ni := describeENI(t, vpc, node, eni)
	var victim netip.Addr
	for _, ip := range ni.PrivateIpAddresses {
		if !aws.ToBool(ip.Primary) {
			victim = netip.MustParseAddr(aws.ToString(ip.PrivateIpAddress))
		}
	}
	c := ec2.New(ec2.Options{Region: vpc.Region(), BaseEndpoint: aws.String(vpc.EC2Endpoint()),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIATEST", SecretAccessKey: "test"}, nil
		}), HTTPClient: node.HTTPClient()})
	describesBefore := vpc.Calls().Count("DescribeNetworkInterfaces", "")
	if _, err := c.UnassignPrivateIpAddresses(context.Background(), &ec2.UnassignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(eni), PrivateIpAddresses: []string{victim.String()}}); err != nil {
		t.Fatal(err)
	}
	// The agent learns it and refills: EC2 and the agent agree on 3 again.
	ag.waitFor("the pool to match EC2 again", 15*time.Second, func(s rpc.Status) bool {
		return vpc.Calls().Count("DescribeNetworkInterfaces", "") > describesBefore && s.Total == 3 && ec2Addresses(t, vpc, node, eni) == 3
	})
	// Whatever the pool holds now is on the ENI in EC2.
	held := map[netip.Addr]bool{}
	for _, ip := range describeENI(t, vpc, node, eni).PrivateIpAddresses {
		held[netip.MustParseAddr(aws.ToString(ip.PrivateIpAddress))] = true
	}
	for i := range 3 {
		al := ag.allocate(key(i))
		if !held[al.Address] {
			t.Fatalf("handed out %s, which EC2 does not assign to %s", al.Address, eni)
		}
	}
}
