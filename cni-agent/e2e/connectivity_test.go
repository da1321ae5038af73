package e2e

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

const podPort = 8080

// TestPodTrafficAcrossNodes: pods on the primary and on secondary ENIs of
// one node talk to each other and to pods on another node with their own
// addresses, and reach the internet as the node's primary IP.
func TestPodTrafficAcrossNodes(t *testing.T) {
	vpc := newVPC(t)
	// The nodes sit in different subnets: the simulated VPC router routes
	// between subnets but does not answer ARP for another node's pod
	// addresses inside one subnet (EC2's fabric does), see docs/cni.md.
	a := startNode(t, vpc, "node-a", "t3.medium", "us-east-1a", nil)
	b := startNode(t, vpc, "node-b", "t3.medium", "us-east-1b", nil)

	// A t3.medium's primary ENI holds 5 pod addresses: 7 pods put at least
	// two on a secondary ENI.
	var onPrimary, onSecondary *pod
	for i := range 7 {
		p := a.newPod(fmt.Sprintf("a%d", i))
		a.addRetrying(p, 60*time.Second)
		if al := a.allocation(p); al.RouteTable == 254 && onPrimary == nil {
			onPrimary = p
		} else if al.RouteTable != 254 && onSecondary == nil {
			onSecondary = p
		}
	}
	if onPrimary == nil || onSecondary == nil {
		t.Fatalf("want pods on both the primary and a secondary ENI; primary %v, secondary %v", onPrimary, onSecondary)
	}
	remote := b.newPod("b0")
	b.addRetrying(remote, 60*time.Second)
	for _, p := range []*pod{onPrimary, onSecondary, remote} {
		listen(t, p, podPort)
	}
	at := func(p *pod) string { return p.addr.String() }
	port := func(p *pod) netip.AddrPort { return netip.AddrPortFrom(p.addr, podPort) }

	for _, tc := range []struct {
		what     string
		from, to *pod
	}{
		{"same node, primary ENI pod -> secondary ENI pod", onPrimary, onSecondary},
		{"same node, secondary ENI pod -> primary ENI pod", onSecondary, onPrimary},
		{"across nodes, primary ENI pod -> remote pod", onPrimary, remote},
		{"across nodes, secondary ENI pod -> remote pod", onSecondary, remote},
		{"across nodes, remote pod -> secondary ENI pod", remote, onSecondary},
	} {
		expectSource(t, tc.what+" ("+at(tc.from)+" -> "+at(tc.to)+")", tc.from.netns, port(tc.to), tc.from.addr)
	}
	echo := vpc.InternetEcho()
	expectSource(t, "primary ENI pod -> internet", onPrimary.netns, echo, a.sim.PrimaryIP)
	expectSource(t, "secondary ENI pod -> internet", onSecondary.netns, echo, a.sim.PrimaryIP)
	expectSource(t, "remote pod -> internet", remote.netns, echo, b.sim.PrimaryIP)
	expectSource(t, "node b -> secondary ENI pod on node a", b.sim.NetNSPath(), port(onSecondary), b.sim.PrimaryIP)
}

// TestExternalSNATAndExclusions: with external SNAT the internet sees the
// pod's address (a NAT gateway would translate it); with the internet
// echo's range excluded, too.
func TestExternalSNATAndExclusions(t *testing.T) {
	vpc := newVPC(t)
	echo := vpc.InternetEcho()
	excluded := startNode(t, vpc, "excl", "t3.medium", "", map[string]string{"EKSNET_SNAT_EXCLUDE_CIDRS": "203.0.113.0/24"})
	external := startNode(t, vpc, "ext", "t3.medium", "", map[string]string{"EKSNET_EXTERNAL_SNAT": "true"})
	for _, n := range []*node{external, excluded} {
		var pods []*pod
		for i := range 7 { // include secondary ENI pods
			p := n.newPod(fmt.Sprintf("%s%d", n.sim.Name, i))
			n.addRetrying(p, 60*time.Second)
			pods = append(pods, p)
		}
		for _, p := range pods {
			al := n.allocation(p)
			expectSource(t, fmt.Sprintf("%s: pod %s on ENI device %d -> internet", n.sim.Name, p.addr, al.DeviceNumber), p.netns, echo, p.addr)
		}
	}
}
