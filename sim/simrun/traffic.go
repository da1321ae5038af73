package simrun

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/eksnet/eksnet/sim/simcluster"
)

// checkTraffic proves the wiring with real connections, each to a server
// that reports the source it saw:
//   - on one node, the last pod (usually on a secondary ENI) -> the first;
//   - across nodes, each node's first and last pods -> the first pod of its
//     peer (see peerOf): the pods' own addresses, no NAT;
//   - each node's first and last pods -> the internet echo: the node's
//     primary address (SNAT), unless its agent settings leave SNAT to a NAT
//     gateway or exclude the destination.
func (r *run) checkTraffic(ctx context.Context) {
	var live []*nodeRun
	for _, n := range r.nodes {
		if len(n.pods) > 0 {
			live = append(live, n)
		}
	}
	var listeners []net.Listener
	defer func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}()
	serve := func(p *simcluster.Pod) bool {
		ln, err := simcluster.Serve(p.NetNS, simcluster.ProbePort)
		if err != nil {
			r.rep.add(Check{Name: "probe servers", Detail: fmt.Sprintf("pod %s: %v", p.Name, err)})
			return false
		}
		listeners = append(listeners, ln)
		return true
	}
	for _, n := range live {
		if !serve(n.pods[0]) {
			return
		}
	}
	r.progress("checking traffic: pod <-> pod on a node and across nodes, pod -> internet")

	var same []probe
	for _, n := range live {
		if len(n.pods) < 2 {
			continue
		}
		from, to := n.pods[len(n.pods)-1], n.pods[0]
		same = append(same, probe{what: fmt.Sprintf("%s: %s (%s) -> %s (%s)", n.plan.Name, from.Name, from.Addr, to.Name, to.Addr),
			from: from.NetNS, to: addrPort(to), want: from.Addr, why: "pod to pod is never NATed"})
	}
	r.addProbeCheck(ctx, "pod <-> pod on one node", same, "no node has two wired pods")

	var across []probe
	for i, n := range live {
		peer := peerOf(live, i)
		if peer == nil {
			continue
		}
		to := peer.pods[0]
		for _, from := range endPods(n.pods) {
			across = append(across, probe{what: fmt.Sprintf("%s/%s (%s) -> %s/%s (%s)", n.plan.Name, from.Name, from.Addr, peer.plan.Name, to.Name, to.Addr),
				from: from.NetNS, to: addrPort(to), want: from.Addr, why: "pod to pod across nodes is never NATed"})
		}
	}
	r.addProbeCheck(ctx, "pod <-> pod across nodes without NAT", across, "needs two nodes with wired pods")

	echo := r.c.VPC().InternetEcho()
	var inet []probe
	for _, n := range live {
		for _, from := range endPods(n.pods) {
			want, why := InternetSource(n.node.Env(), echo.Addr(), n.node.Sim().PrimaryIP, from.Addr)
			inet = append(inet, probe{what: fmt.Sprintf("%s/%s (%s) -> internet %s", n.plan.Name, from.Name, from.Addr, echo),
				from: from.NetNS, to: echo, want: want, why: why})
		}
	}
	r.addProbeCheck(ctx, "pod -> internet SNATed to the node IP", inet, "no wired pods")
}

func (r *run) addProbeCheck(ctx context.Context, name string, probes []probe, skip string) {
	if len(probes) == 0 {
		r.rep.add(Check{Name: name, Skipped: true, Detail: skip})
		return
	}
	ok, failed := r.runProbes(ctx, probes)
	c := Check{Name: name, OK: len(failed) == 0, Detail: fmt.Sprintf("%d of %d connections saw the expected source", ok, len(probes))}
	if len(failed) > 0 {
		c.Detail += "; " + joinLines(failed)
	} else if len(probes) <= 2 {
		c.Detail += " (" + probes[0].what + ")"
	}
	r.rep.add(c)
}

// peerOf picks the node whose first pod live[i]'s pods dial: the next one
// (in order, wrapping) in another subnet, so traffic crosses the VPC
// router between subnets, else the next one; nil when i is alone.
func peerOf(live []*nodeRun, i int) *nodeRun {
	var sameSubnet *nodeRun
	for j := 1; j < len(live); j++ {
		m := live[(i+j)%len(live)]
		if m.plan.SubnetCIDR != live[i].plan.SubnetCIDR {
			return m
		}
		if sameSubnet == nil {
			sameSubnet = m
		}
	}
	return sameSubnet
}

// endPods are the first and last pods (the last is the likeliest to sit on
// a secondary ENI), or the only one.
func endPods(pods []*simcluster.Pod) []*simcluster.Pod {
	if len(pods) < 2 {
		return pods
	}
	return []*simcluster.Pod{pods[0], pods[len(pods)-1]}
}

func addrPort(p *simcluster.Pod) netip.AddrPort {
	return netip.AddrPortFrom(p.Addr, simcluster.ProbePort)
}
