package agent_test

import (
	"context"
	"net/netip"
	"strings"
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
	st := ag.waitFor("3 warm addresses", 30*time.Second, func(s rpc.Status) bool { return s.Free == 3 })
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

// IMDS lags behind EC2 (seconds, in AWS): the reconcile must then trust
// EC2 and never drop an address IMDS does not show yet.
func TestIMDSLagDropsNothing(t *testing.T) {
	vpc := newVPC(t)
	node := addNode(t, vpc, "lag", "t3.medium")
	ag := startAgent(t, node, "", map[string]string{"EKSNET_MODE": "secondary", "EKSNET_RECONCILE_INTERVAL": "1s"})
	ag.waitFor("ready", 30*time.Second, func(s rpc.Status) bool { return s.Ready })
	vpc.SetIMDSDelay(4 * time.Second)
	held := map[rpc.Key]netip.Addr{}
	for i := range 12 {
		held[key(i)] = ag.allocate(key(i)).Address
	}
	time.Sleep(3 * time.Second) // several reconciles while IMDS is behind
	st := ag.waitFor("15 addresses", 10*time.Second, func(s rpc.Status) bool { return s.Total == 15 })
	for _, e := range st.LastErrors {
		if strings.Contains(e, "dropped") {
			t.Fatalf("an allocation was dropped while IMDS lagged: %s", e)
		}
	}
	// Start + first leaked-ENI collection + at least one reconcile that
	// found IMDS behind and asked EC2.
	if n := vpc.Calls().Count("DescribeNetworkInterfaces", ""); n < 3 {
		t.Fatalf("%d describes: the lag never reached the reconcile", n)
	}
	list, err := ag.client.List(context.Background())
	if err != nil || len(list) != 12 {
		t.Fatalf("list: %d allocations, %v", len(list), err)
	}
	for _, al := range list {
		if held[al.Key] != al.Address {
			t.Fatalf("%s now holds %s, it was given %s", al.Key, al.Address, held[al.Key])
		}
	}
}
