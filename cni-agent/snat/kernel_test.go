package snat_test

import (
	"context"
	"encoding/binary"
	"net/netip"
	"reflect"
	"testing"

	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/datapath/netnstest"
	"github.com/eksnet/eksnet/cni-agent/snat"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// topology is a node with a primary ENI (eth0, 10.0.0.10) and a secondary
// ENI (eth1, 10.0.2.10, route table 2), a pod on each, and a router namespace
// standing for the VPC and the internet: it serves echo endpoints on an
// internet address, an excluded address and a VPC address, and drops packets
// whose source does not belong behind the interface they came in on (strict
// rp_filter, like EC2's source/destination check).
type topology struct {
	node, inet, podA, podB *netnstest.NS
}

const (
	primaryIP   = "10.0.0.10"
	podAIP      = "10.0.1.5"  // on the primary ENI
	podBIP      = "10.0.2.20" // on the secondary ENI
	internet    = "203.0.113.1:80"
	excluded    = "192.168.50.1:80"
	insideVPC   = "10.0.0.1:8080"
	nodePort    = "10.0.0.10:30080"
	podBService = 8080
)

func newTopology(t *testing.T) *topology {
	netnstest.RequireRoot(t)
	tp := &topology{
		node: netnstest.New(t, "node"), inet: netnstest.New(t, "inet"),
		podA: netnstest.New(t, "poda"), podB: netnstest.New(t, "podb"),
	}
	netnstest.Veth(t, tp.node, "eth0", primaryIP+"/24", tp.inet, "r0", "10.0.0.1/24")
	netnstest.Veth(t, tp.node, "eth1", "10.0.2.10/24", tp.inet, "r1", "10.0.2.1/24")
	tp.node.Sysctl(t, "net/ipv4/ip_forward", "1")
	for _, k := range []string{"all", "r0", "r1"} {
		tp.inet.Sysctl(t, "net/ipv4/conf/"+k+"/rp_filter", "1")
	}
	hn, hi := tp.node.Handle(t), tp.inet.Handle(t)
	netnstest.Route(t, hn, "default", "10.0.0.1", "eth0", 0)
	netnstest.Route(t, hn, "default", "10.0.2.1", "eth1", 2)
	addLoopback(t, hi, "203.0.113.1/32", "192.168.50.1/32")
	netnstest.Route(t, hi, podAIP+"/32", primaryIP, "r0", 0)
	netnstest.Route(t, hi, podBIP+"/32", "10.0.2.10", "r1", 0)
	netnstest.EchoServer(t, tp.inet, internet)
	netnstest.EchoServer(t, tp.inet, excluded)
	netnstest.EchoServer(t, tp.inet, insideVPC)

	for _, p := range []datapath.Pod{
		{Netns: tp.podA.Path, IfName: "eth0", HostVeth: "eni" + netnstest.UniqueSuffix(), Address: netip.MustParseAddr(podAIP), RouteTable: 254},
		{Netns: tp.podB.Path, IfName: "eth0", HostVeth: "eni" + netnstest.UniqueSuffix(), Address: netip.MustParseAddr(podBIP), RouteTable: 2},
	} {
		// The pod's address unit gets its policy rules first, as the agent
		// adds them before it hands out the unit's addresses.
		unit := datapath.Unit{Prefix: netip.PrefixFrom(p.Address, 32), Table: p.RouteTable}
		tp.node.Do(t, func() error { return datapath.AddUnitRules([]datapath.Unit{unit}) })
		tp.node.Do(t, func() error { _, err := datapath.Setup(p); return err })
	}
	netnstest.EchoServer(t, tp.podB, "0.0.0.0:8080")
	return tp
}

// addLoopback gives the router's lo the addresses its echo servers answer on.
func addLoopback(t *testing.T, h *netlink.Handle, cidrs ...string) {
	t.Helper()
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cidrs {
		netnstest.AddAddr(t, h, lo, c)
	}
}

func (tp *topology) config(external bool) snat.Config {
	return snat.Config{
		PrimaryIP:   netip.MustParseAddr(primaryIP),
		PrimaryLink: "eth0",
		VPCCIDRs:    []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")},
		Exclude:     []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")},
		External:    external,
		Netns:       tp.node.Path,
	}
}

func expectSource(t *testing.T, from *netnstest.NS, to, want string) {
	t.Helper()
	got, err := netnstest.SourceSeen(from, to)
	if err != nil {
		t.Fatalf("%s -> %s: %v (want source %s)", from.Name, to, err, want)
	}
	if got != want {
		t.Fatalf("%s -> %s: echo saw source %s, want %s", from.Name, to, got, want)
	}
}

func expectUnreachable(t *testing.T, from *netnstest.NS, to string) {
	t.Helper()
	if got, err := netnstest.SourceSeen(from, to); err == nil {
		t.Fatalf("%s -> %s: got an answer (source %s), want it dropped", from.Name, to, got)
	}
}

func TestSNATOnRealTraffic(t *testing.T) {
	tp := newTopology(t)
	ctx := context.Background()

	// Without the rule set, the internet sees the pod's private address, and a
	// pod on a secondary ENI reaches it through that ENI.
	expectSource(t, tp.podA, internet, podAIP)
	expectSource(t, tp.podB, internet, podBIP)

	if err := snat.Apply(ctx, tp.config(false)); err != nil {
		t.Fatal(err)
	}
	expectSource(t, tp.podA, internet, primaryIP)
	// Only possible if the connmark sends the SNATed flow out of eth0: out of
	// eth1 the router drops a packet from the primary IP.
	expectSource(t, tp.podB, internet, primaryIP)
	expectSource(t, tp.podA, excluded, podAIP)
	expectSource(t, tp.podA, insideVPC, podAIP)
	expectSource(t, tp.podB, insideVPC, podBIP)
	expectSource(t, tp.node, internet, primaryIP)

	if err := snat.Apply(ctx, tp.config(true)); err != nil {
		t.Fatal(err)
	}
	expectSource(t, tp.podA, internet, podAIP)
	expectSource(t, tp.podB, internet, podBIP)

	if err := snat.Apply(ctx, tp.config(false)); err != nil {
		t.Fatal(err)
	}
	expectSource(t, tp.podA, internet, primaryIP)
	if err := snat.RemoveAt(ctx, tp.node.Path); err != nil {
		t.Fatal(err)
	}
	if n, ok, err := snat.Installed(tp.node.Path); err != nil || ok {
		t.Fatalf("after Remove: table present = %v (%d rules), err = %v", ok, n, err)
	}
	if rules := markRules(t, tp.node); rules != 0 {
		t.Fatalf("after Remove: %d fwmark rules left", rules)
	}
	expectSource(t, tp.podA, internet, podAIP)
	if err := snat.RemoveAt(ctx, tp.node.Path); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}

// TestRepliesLeaveThroughThePrimaryENI sends a NodePort-style connection to
// the primary IP, DNATed (by a table of the test's own, as kube-proxy would)
// to the pod on the secondary ENI. The reply must leave through eth0: out of
// eth1, with the primary IP as source, the router drops it.
func TestRepliesLeaveThroughThePrimaryENI(t *testing.T) {
	tp := newTopology(t)
	addDNAT(t, tp.node, primaryIP, 30080, podBIP, podBService)

	expectUnreachable(t, tp.inet, nodePort) // without the connmark: dropped
	if err := snat.Apply(context.Background(), tp.config(true)); err != nil {
		t.Fatal(err)
	}
	got, err := netnstest.SourceSeenFrom(tp.inet, "203.0.113.1", nodePort)
	if err != nil {
		t.Fatalf("NodePort connection with the connmark in place: %v", err)
	}
	if got != "203.0.113.1" {
		t.Fatalf("pod saw client %s, want 203.0.113.1", got)
	}
}

func TestApplyIsIdempotentAndAtomic(t *testing.T) {
	netnstest.RequireRoot(t)
	node := netnstest.New(t, "node")
	cfg := snat.Config{
		PrimaryIP: netip.MustParseAddr(primaryIP), PrimaryLink: "eth0",
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, Netns: node.Path,
	}
	ctx := context.Background()
	if err := snat.Apply(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	first := dump(t, node)
	if err := snat.Apply(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	second := dump(t, node)
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("second Apply changed the rule set:\n%v\nvs\n%v", first, second)
	}
	n, ok, err := snat.Installed(node.Path)
	if err != nil || !ok || n != len(snat.Plan(cfg).Rules) {
		t.Fatalf("installed = %d rules, %v, %v; want %d", n, ok, err, len(snat.Plan(cfg).Rules))
	}
	if rules := markRules(t, node); rules != 1 {
		t.Fatalf("fwmark rules = %d, want exactly 1", rules)
	}

	// A rejected config must leave the previous rule set whole.
	before := dump(t, node)
	if err := snat.Apply(ctx, snat.Config{PrimaryLink: "eth0", Netns: node.Path}); err == nil {
		t.Fatal("invalid config applied")
	}
	if after := dump(t, node); !reflect.DeepEqual(before, after) {
		t.Fatal("a rejected Apply changed the rule set")
	}
	// Changing the policy replaces the rule set rather than adding to it.
	more := cfg
	more.Exclude = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	if err := snat.Apply(ctx, more); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := snat.Installed(node.Path); n != len(snat.Plan(more).Rules) {
		t.Fatalf("after re-apply with an exclusion: %d rules, want %d", n, len(snat.Plan(more).Rules))
	}
}

// dump reads the table back from the kernel: chain name -> rule expressions.
func dump(t *testing.T, ns *netnstest.NS) map[string][][]expr.Any {
	t.Helper()
	h, err := netns.GetFromPath(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		t.Fatal(err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]expr.Any{}
	for _, ch := range chains {
		if ch.Table.Name != snat.TableName {
			continue
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			t.Fatal(err)
		}
		out[ch.Name] = [][]expr.Any{}
		for _, r := range rules {
			// Counters change with traffic; everything else must not.
			var keep []expr.Any
			for _, e := range r.Exprs {
				if _, isCounter := e.(*expr.Counter); !isCounter {
					keep = append(keep, e)
				}
			}
			out[ch.Name] = append(out[ch.Name], keep)
		}
	}
	return out
}

func markRules(t *testing.T, ns *netnstest.NS) int {
	t.Helper()
	rules, err := ns.Handle(t).RuleList(unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rules {
		if r.Priority == snat.RulePriority && r.Mark == snat.Mark {
			n++
		}
	}
	return n
}

// addDNAT installs "tcp dport port ip daddr addr dnat to to:toPort" in a
// table of the test's own, as kube-proxy would for a NodePort.
func addDNAT(t *testing.T, ns *netnstest.NS, addr string, port uint16, to string, toPort uint16) {
	t.Helper()
	h, err := netns.GetFromPath(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		t.Fatal(err)
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "test-nodeport"})
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: "prerouting", Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest, Policy: &accept})
	be := func(v uint16) []byte { b := make([]byte, 2); binary.BigEndian.PutUint16(b, v); return b }
	c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: netip.MustParseAddr(addr).AsSlice()},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be(port)},
		&expr.Immediate{Register: 1, Data: netip.MustParseAddr(to).AsSlice()},
		&expr.Immediate{Register: 2, Data: be(toPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2},
	}})
	if err := c.Flush(); err != nil {
		t.Fatalf("adding the test's NodePort DNAT: %v", err)
	}
}

// TestSecondaryVPCCIDRKeepsPodAddresses is custom networking's layout: the
// VPC has a secondary block (100.64.0.0/16) whose subnets hold pod ENIs,
// beside the primary block the nodes live in. The agent hands SNAT every
// block IMDS lists (vpc-ipv4-cidr-blocks), so pod-to-pod traffic between
// the two ranges keeps the pods' addresses in both directions, and only
// traffic leaving the VPC takes the primary IP.
func TestSecondaryVPCCIDRKeepsPodAddresses(t *testing.T) {
	netnstest.RequireRoot(t)
	const (
		secondaryENI  = "100.64.0.10"
		podSecondary  = "100.64.0.20" // a pod on the pod-subnet ENI
		podPrimary    = "10.0.1.5"    // a pod on the primary ENI
		peerPrimary   = "10.0.0.1:8080"
		peerSecondary = "100.64.0.1:8080"
	)
	node, vpc := netnstest.New(t, "node"), netnstest.New(t, "vpc")
	podS, podP := netnstest.New(t, "pods"), netnstest.New(t, "podp")
	netnstest.Veth(t, node, "eth0", primaryIP+"/24", vpc, "r0", "10.0.0.1/24")
	// As the agent sets a secondary ENI up (hostnet): its address as a
	// /32, its subnet reached only through its own table.
	netnstest.Veth(t, node, "eth1", secondaryENI+"/32", vpc, "r1", "100.64.0.1/24")
	node.Sysctl(t, "net/ipv4/ip_forward", "1")
	for _, k := range []string{"all", "r0", "r1"} {
		vpc.Sysctl(t, "net/ipv4/conf/"+k+"/rp_filter", "1")
	}
	hn, hv := node.Handle(t), vpc.Handle(t)
	netnstest.Route(t, hn, "default", "10.0.0.1", "eth0", 0)
	netnstest.Route(t, hn, "100.64.0.1/32", "", "eth1", 2)
	netnstest.Route(t, hn, "default", "100.64.0.1", "eth1", 2)
	addLoopback(t, hv, "203.0.113.1/32")
	netnstest.Route(t, hv, podPrimary+"/32", primaryIP, "r0", 0)
	netnstest.Route(t, hv, podSecondary+"/32", secondaryENI, "r1", 0)
	for _, addr := range []string{internet, peerPrimary, peerSecondary} {
		netnstest.EchoServer(t, vpc, addr)
	}
	for _, p := range []datapath.Pod{
		{Netns: podP.Path, IfName: "eth0", HostVeth: "eni" + netnstest.UniqueSuffix(), Address: netip.MustParseAddr(podPrimary), RouteTable: 254},
		{Netns: podS.Path, IfName: "eth0", HostVeth: "eni" + netnstest.UniqueSuffix(), Address: netip.MustParseAddr(podSecondary), RouteTable: 2},
	} {
		unit := datapath.Unit{Prefix: netip.PrefixFrom(p.Address, 32), Table: p.RouteTable}
		node.Do(t, func() error { return datapath.AddUnitRules([]datapath.Unit{unit}) })
		node.Do(t, func() error { _, err := datapath.Setup(p); return err })
	}

	// The blocks as IMDS lists them for a VPC with a secondary CIDR.
	cfg := snat.Config{
		PrimaryIP: netip.MustParseAddr(primaryIP), PrimaryLink: "eth0",
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("100.64.0.0/16")},
		Netns:    node.Path,
	}
	if err := snat.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	expectSource(t, podS, peerPrimary, podSecondary)
	expectSource(t, podP, peerSecondary, podPrimary)
	expectSource(t, podS, internet, primaryIP)
	expectSource(t, podP, internet, primaryIP)
}
