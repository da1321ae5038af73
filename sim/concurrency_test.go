package sim_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/eksnet/eksnet/sim"
)

// TestConcurrentAssignsNeverShareAnAddress has four nodes (agents) assign
// addresses at once and checks EC2, the subnet count and the router agree.
func TestConcurrentAssignsNeverShareAnAddress(t *testing.T) {
	vpc := newVPC(t, sim.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var nodes []*sim.Node
	for i := 0; i < 4; i++ {
		nodes = append(nodes, addNode(t, vpc, sim.NodeSpec{Name: fmt.Sprintf("node-%d", i), InstanceType: "m5.large"}))
	}
	const perNode = 9 // m5.large: 10 slots per ENI, the primary takes one
	var mu sync.Mutex
	owner := map[string]string{} // address -> node primary IP
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes)*perNode)
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ec2From(vpc, n)
			for i := 0; i < perNode; i++ {
				out, err := c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{
					NetworkInterfaceId: aws.String(n.PrimaryENI), SecondaryPrivateIpAddressCount: aws.Int32(1)})
				if err != nil {
					errs <- err
					return
				}
				a := aws.ToString(out.AssignedPrivateIpAddresses[0].PrivateIpAddress)
				mu.Lock()
				if prev, dup := owner[a]; dup {
					errs <- fmt.Errorf("%s assigned to %s and %s", a, prev, n.PrimaryIP)
				}
				owner[a] = n.PrimaryIP.String()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(owner) != len(nodes)*perNode {
		t.Fatalf("%d addresses assigned, want %d", len(owner), len(nodes)*perNode)
	}
	if free := vpc.Cloud().State().Subnets[0].Available; free != 251-len(nodes)-len(owner) {
		t.Fatalf("subnet free = %d, want %d", free, 251-len(nodes)-len(owner))
	}
	routes := routerRoutes(t, vpc)
	for a, via := range owner {
		if got := routes[a+"/32"]; got != via {
			t.Errorf("router routes %s via %q, want %s", a, got, via)
		}
	}
	// One more is over the limit for every node.
	_, err := ec2From(vpc, nodes[0]).AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(nodes[0].PrimaryENI), SecondaryPrivateIpAddressCount: aws.Int32(1)})
	wantCode(t, err, "PrivateIpAddressLimitExceeded")
}

// BenchmarkAssignUnassign measures one EC2 round trip pair from a node,
// including the router route changes.
func BenchmarkAssignUnassign(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: creates network namespaces")
	}
	vpc, err := sim.New(context.Background(), sim.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer vpc.Close()
	n, err := vpc.AddNode(context.Background(), sim.NodeSpec{Name: "node-0", InstanceType: "m5.large"})
	if err != nil {
		b.Fatal(err)
	}
	c := ec2From(vpc, n)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{
			NetworkInterfaceId: aws.String(n.PrimaryENI), SecondaryPrivateIpAddressCount: aws.Int32(1)})
		if err != nil {
			b.Fatal(err)
		}
		a := netip.MustParseAddr(aws.ToString(out.AssignedPrivateIpAddresses[0].PrivateIpAddress))
		if _, err := c.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{
			NetworkInterfaceId: aws.String(n.PrimaryENI), PrivateIpAddresses: []string{a.String()}}); err != nil {
			b.Fatal(err)
		}
	}
}
