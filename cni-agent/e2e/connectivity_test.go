package e2e

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/eksnet/eksnet/sim/simcluster"
)

// TestPodTrafficAcrossNodes: pods on the primary and on secondary ENIs of
// one node talk to each other and to pods on another node with their own
// addresses, and reach the internet as the node's primary IP.
func TestPodTrafficAcrossNodes(t *testing.T) {
	c := newCluster(t)
	// The nodes sit in different subnets: the simulated VPC router routes
	// between subnets but does not answer ARP for another node's pod
	// addresses inside one subnet (EC2's fabric does), see docs/cni.md.
	a := startNode(t, c, "node-a", "t3.medium", "us-east-1a", nil)
	b := startNode(t, c, "node-b", "t3.medium", "us-east-1b", nil)

	// A t3.medium's primary ENI holds 5 pod addresses: 7 pods put at least
	// two on a secondary ENI.
	var onPrimary, onSecondary *simcluster.Pod
	for i := range 7 {
		p := newPod(t, a, fmt.Sprintf("a%d", i))
		addRetrying(t, a, p, 60*time.Second)
		if al := allocation(t, a, p); al.RouteTable == 254 && onPrimary == nil {
			onPrimary = p
		} else if al.RouteTable != 254 && onSecondary == nil {
			onSecondary = p
		}
	}
	if onPrimary == nil || onSecondary == nil {
		t.Fatalf("want pods on both the primary and a secondary ENI; primary %v, secondary %v", onPrimary, onSecondary)
	}
	remote := newPod(t, b, "b0")
	addRetrying(t, b, remote, 60*time.Second)
	serving := map[*simcluster.Pod]netip.AddrPort{}
	for _, p := range []*simcluster.Pod{onPrimary, onSecondary, remote} {
		serving[p] = listen(t, p)
	}
	at := func(p *simcluster.Pod) string { return p.Addr.String() }

	for _, tc := range []struct {
		what     string
		from, to *simcluster.Pod
	}{
		{"same node, primary ENI pod -> secondary ENI pod", onPrimary, onSecondary},
		{"same node, secondary ENI pod -> primary ENI pod", onSecondary, onPrimary},
		{"across nodes, primary ENI pod -> remote pod", onPrimary, remote},
		{"across nodes, secondary ENI pod -> remote pod", onSecondary, remote},
		{"across nodes, remote pod -> secondary ENI pod", remote, onSecondary},
	} {
		expectSource(t, tc.what+" ("+at(tc.from)+" -> "+at(tc.to)+")", tc.from.NetNS, serving[tc.to], tc.from.Addr)
	}
	echo := c.VPC().InternetEcho()
	expectSource(t, "primary ENI pod -> internet", onPrimary.NetNS, echo, a.Sim().PrimaryIP)
	expectSource(t, "secondary ENI pod -> internet", onSecondary.NetNS, echo, a.Sim().PrimaryIP)
	expectSource(t, "remote pod -> internet", remote.NetNS, echo, b.Sim().PrimaryIP)
	expectSource(t, "node b -> secondary ENI pod on node a", b.Sim().NetNSPath(), serving[onSecondary], b.Sim().PrimaryIP)
}

// TestExternalSNATAndExclusions: with external SNAT the internet sees the
// pod's address (a NAT gateway would translate it); with the internet
// echo's range excluded, too.
func TestExternalSNATAndExclusions(t *testing.T) {
	c := newCluster(t)
	echo := c.VPC().InternetEcho()
	excluded := startNode(t, c, "excl", "t3.medium", "", map[string]string{"EKSNET_SNAT_EXCLUDE_CIDRS": "203.0.113.0/24"})
	external := startNode(t, c, "ext", "t3.medium", "", map[string]string{"EKSNET_EXTERNAL_SNAT": "true"})
	for _, n := range []*simcluster.Node{external, excluded} {
		var pods []*simcluster.Pod
		for i := range 7 { // include secondary ENI pods
			p := newPod(t, n, fmt.Sprintf("%s%d", n.Name(), i))
			addRetrying(t, n, p, 60*time.Second)
			pods = append(pods, p)
		}
		for _, p := range pods {
			al := allocation(t, n, p)
			expectSource(t, fmt.Sprintf("%s: pod %s on ENI device %d -> internet", n.Name(), p.Addr, al.DeviceNumber), p.NetNS, echo, p.Addr)
		}
	}
}
