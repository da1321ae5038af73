package datapath_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/datapath/netnstest"
	"github.com/vishvananda/netlink"
)

// node is a node namespace (forwarding off, as a new namespace starts) with
// the node address 10.0.0.10 on lo, serving an echo on :7000.
func node(t *testing.T) *netnstest.NS {
	n := netnstest.New(t, "node")
	n.Sysctl(t, "net/ipv4/ip_forward", "0")
	h := n.Handle(t)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	netnstest.AddAddr(t, h, lo, "10.0.0.10/32")
	netnstest.EchoServer(t, n, "10.0.0.10:7000")
	return n
}

func pod(t *testing.T, addr string, table int) datapath.Pod {
	return datapath.Pod{
		Netns: netnstest.New(t, "pod").Path, IfName: "eth0", HostVeth: "eni" + netnstest.UniqueSuffix(),
		Address: netip.MustParseAddr(addr), RouteTable: table, MTU: 9001,
	}
}

// unitOf is the /28 a pod address comes from in these tests (prefix mode).
func unitOf(p datapath.Pod) datapath.Unit {
	return datapath.Unit{Prefix: netip.PrefixFrom(p.Address, 28).Masked(), Table: p.RouteTable}
}

// withUnit sets p's unit to its /28 and adds the unit's rules in the node,
// as the agent does before it hands out the unit's addresses.
func withUnit(t *testing.T, n *netnstest.NS, p datapath.Pod) datapath.Pod {
	t.Helper()
	u := unitOf(p)
	p.Unit = u.Prefix
	if err := inNode(t, n, func() error { return datapath.AddUnitRules([]datapath.Unit{u}) }); err != nil {
		t.Fatal(err)
	}
	return p
}

// ruleLines are the node's policy rules at the pod priorities, rendered
// like Observe renders them.
func ruleLines(t *testing.T, n *netnstest.NS) []string {
	t.Helper()
	rules, err := n.Handle(t).RuleList(netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rules {
		if r.Priority != datapath.ToPodRulePriority && r.Priority != datapath.FromPodRulePriority {
			continue
		}
		table := fmt.Sprint(r.Table)
		if r.Table == datapath.MainTable {
			table = "main"
		}
		switch {
		case r.Dst != nil:
			out = append(out, fmt.Sprintf("rule %d to %s lookup %s", r.Priority, r.Dst, table))
		case r.Src != nil:
			out = append(out, fmt.Sprintf("rule %d from %s lookup %s", r.Priority, r.Src, table))
		}
	}
	slices.Sort(out)
	return out
}

func setup(t *testing.T, n *netnstest.NS, p datapath.Pod) (w datapath.Wired, err error) {
	t.Helper()
	n.Do(t, func() error { w, err = datapath.Setup(p); return nil })
	return w, err
}

func observe(t *testing.T, n *netnstest.NS, p datapath.Pod) datapath.State {
	t.Helper()
	var s datapath.State
	n.Do(t, func() error {
		var err error
		s, _, err = datapath.Observe(p)
		return err
	})
	return s
}

func inNode(t *testing.T, n *netnstest.NS, fn func() error) error {
	t.Helper()
	var err error
	n.Do(t, func() error { err = fn(); return nil })
	return err
}

func podNS(p datapath.Pod) *netnstest.NS {
	return &netnstest.NS{Name: p.Netns, Path: p.Netns}
}

func TestSetupWiresARoutablePod(t *testing.T) {
	netnstest.RequireRoot(t)
	n := node(t)
	a, b := withUnit(t, n, pod(t, "10.0.1.5", 254)), withUnit(t, n, pod(t, "10.0.2.7", 3))
	agentRules := ruleLines(t, n)
	for _, p := range []datapath.Pod{a, b} {
		w, err := setup(t, n, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(w.HostMAC) != 6 || len(w.PodMAC) != 6 || w.PodIndex == 0 {
			t.Fatalf("wired = %+v", w)
		}
		if err := inNode(t, n, func() error { return datapath.Verify(p) }); err != nil {
			t.Fatalf("verify right after setup: %v", err)
		}
		var hostMAC = w.HostMAC
		if got, want := observe(t, n, p).String(), datapath.Desired(p, hostMAC).String(); got != want {
			t.Fatalf("kernel state:\n%s\nwant:\n%s", got, want)
		}
	}
	var forwarding []byte
	n.Do(t, func() error {
		var err error
		forwarding, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		return err
	})
	if strings.TrimSpace(string(forwarding)) != "1" {
		t.Fatalf("ip_forward in the node = %q after Setup, want 1", forwarding)
	}
	// Table 3 has no routes in this node, so pod b's traffic to anything but
	// pods would be unroutable; pod-to-node and pod-to-pod use main (a's
	// unit's to rule and the node's local table).
	netnstest.EchoServer(t, podNS(a), "0.0.0.0:7001")
	for _, tc := range []struct {
		from *netnstest.NS
		to   string
		want string
	}{
		{podNS(a), "10.0.0.10:7000", "10.0.1.5"},
		{podNS(b), "10.0.1.5:7001", "10.0.2.7"},
		{n, "10.0.1.5:7001", "10.0.0.10"},
	} {
		got, err := netnstest.SourceSeen(tc.from, tc.to)
		if err != nil || got != tc.want {
			t.Fatalf("%s -> %s: saw %q, %v; want %s", tc.from.Name, tc.to, got, err, tc.want)
		}
	}

	for _, p := range []datapath.Pod{a, b} {
		for i := range 2 { // teardown is idempotent
			if err := inNode(t, n, func() error { return datapath.Teardown(p) }); err != nil {
				t.Fatalf("teardown #%d: %v", i+1, err)
			}
		}
		// Only the agent's unit rules remain: they belong to the pool.
		if s := observe(t, n, p); len(s.Pod) != 0 || !slices.Equal(s.Host, unitOfLines(p)) {
			t.Fatalf("after teardown:\n%s\nwant only the unit's rules %q", s, unitOfLines(p))
		}
	}
	if got := ruleLines(t, n); !slices.Equal(got, agentRules) {
		t.Fatalf("Setup or Teardown changed the agent's rules:\n%q\nwant %q", got, agentRules)
	}
}

// unitOfLines are the rule lines of p's unit.
func unitOfLines(p datapath.Pod) []string {
	u := unitOf(p)
	out := []string{fmt.Sprintf("rule 512 to %s lookup main", u.Prefix)}
	if u.Table != datapath.MainTable {
		out = append(out, fmt.Sprintf("rule 1536 from %s lookup %d", u.Prefix, u.Table))
	}
	slices.Sort(out)
	return out
}

func TestVerifyNamesWhatIsBroken(t *testing.T) {
	netnstest.RequireRoot(t)
	n := node(t)
	p := withUnit(t, n, pod(t, "10.0.1.5", 2))
	w, err := setup(t, n, p)
	if err != nil {
		t.Fatal(err)
	}
	ph := podNS(p).Handle(t)
	if err := ph.NeighDel(&netlink.Neigh{LinkIndex: w.PodIndex, IP: datapath.Gateway.AsSlice()}); err != nil {
		t.Fatal(err)
	}
	nh := n.Handle(t)
	rules, _ := nh.RuleList(netlink.FAMILY_V4)
	for _, r := range rules {
		if r.Priority == datapath.FromPodRulePriority {
			if err := nh.RuleDel(&r); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = inNode(t, n, func() error { return datapath.Verify(p) })
	if err == nil {
		t.Fatal("verify passed on a broken pod")
	}
	for _, want := range []string{"missing host: rule 1536 from 10.0.1.0/28 lookup 2", "missing pod: neigh 169.254.1.1 dev eth0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("verify error %q does not mention %q", err, want)
		}
	}
}

func TestSetupFailuresLeaveNothing(t *testing.T) {
	netnstest.RequireRoot(t)
	n := node(t)

	// eth0 already exists in the pod: the veth is never half made.
	p := pod(t, "10.0.1.5", 2)
	ph := podNS(p).Handle(t)
	if err := ph.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "other"}); err != nil {
		t.Fatal(err)
	}
	if _, err := setup(t, n, p); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("setup over an existing eth0: err = %v", err)
	}
	if s := observe(t, n, p); len(s.Host) != 0 {
		t.Fatalf("host objects left behind:\n%s", s)
	}

	// The namespace is gone.
	gone := pod(t, "10.0.1.6", 2)
	gone.Netns = "/run/netns/eksnet-does-not-exist-" + netnstest.UniqueSuffix()
	if _, err := setup(t, n, gone); !errors.Is(err, datapath.ErrNetnsGone) {
		t.Fatalf("setup into a missing netns: err = %v, want ErrNetnsGone", err)
	}
	if s := observe(t, n, datapath.Pod{HostVeth: gone.HostVeth, Address: gone.Address}); len(s.Host) != 0 {
		t.Fatalf("host objects left behind:\n%s", s)
	}
	if err := inNode(t, n, func() error { return datapath.Teardown(gone) }); err != nil {
		t.Fatalf("teardown with the namespace gone: %v", err)
	}
}

// TestTeardownLeavesOtherAttachmentsAlone: a late DEL for an old sandbox of
// the same pod (same veth name, an older address) must not unwire the new one.
func TestTeardownLeavesOtherAttachmentsAlone(t *testing.T) {
	netnstest.RequireRoot(t)
	n := node(t)
	current := withUnit(t, n, pod(t, "10.0.1.5", 2))
	if _, err := setup(t, n, current); err != nil {
		t.Fatal(err)
	}
	stale := current
	stale.Address = netip.MustParseAddr("10.0.1.99")
	stale.Netns = "/run/netns/eksnet-old-sandbox-" + netnstest.UniqueSuffix()
	if err := inNode(t, n, func() error { return datapath.Teardown(stale) }); err != nil {
		t.Fatal(err)
	}
	if err := inNode(t, n, func() error { return datapath.Verify(current) }); err != nil {
		t.Fatalf("a stale teardown broke the current attachment: %v", err)
	}

	// A new sandbox of the same pod replaces a veth whose DEL never came.
	next := withUnit(t, n, pod(t, "10.0.1.6", 2))
	next.HostVeth = current.HostVeth
	if _, err := setup(t, n, next); err != nil {
		t.Fatal(err)
	}
	if err := inNode(t, n, func() error { return datapath.Verify(next) }); err != nil {
		t.Fatal(err)
	}
	old := datapath.Pod{Netns: next.Netns, IfName: "none", HostVeth: "none", Address: current.Address, RouteTable: 2}
	if s := observe(t, n, old); !slices.Equal(s.Host, unitOfLines(old)) {
		t.Fatalf("the replaced sandbox's route is still there:\n%s", s)
	}
}

// TestSyncUnitRules: the agent's view of the pool becomes the node's rules
// at the pod priorities, whatever was there: per-pod /32 rules of an earlier
// plugin, a unit pointing at another ENI's table and a unit that left the
// pool go, missing ones come, and rules at other priorities stay.
func TestSyncUnitRules(t *testing.T) {
	netnstest.RequireRoot(t)
	n := node(t)
	rule := func(prio int, to bool, cidr string, table int) *netlink.Rule {
		r := netlink.NewRule()
		r.Family, r.Priority, r.Table = netlink.FAMILY_V4, prio, table
		_, ipn, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if to {
			r.Dst = ipn
		} else {
			r.Src = ipn
		}
		return r
	}
	before := []*netlink.Rule{
		rule(datapath.ToPodRulePriority, true, "10.0.1.7/32", datapath.MainTable), // an old per-pod rule
		rule(datapath.FromPodRulePriority, false, "10.0.1.7/32", 3),
		rule(datapath.ToPodRulePriority, true, "10.0.1.16/28", datapath.MainTable), // wanted, present
		rule(datapath.FromPodRulePriority, false, "10.0.1.16/28", 7),               // wrong table
		rule(datapath.ToPodRulePriority, true, "10.0.9.0/28", datapath.MainTable),  // left the pool
		rule(1600, false, "10.0.1.20/32", 3),                                       // an ENI's own rule
		rule(100, true, "192.0.2.0/24", 50),                                        // someone else's
	}
	if err := inNode(t, n, func() error {
		for _, r := range before {
			if err := netlink.RuleAdd(r); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	units := []datapath.Unit{
		{Prefix: netip.MustParsePrefix("10.0.1.0/28"), Table: datapath.MainTable},
		{Prefix: netip.MustParsePrefix("10.0.1.16/28"), Table: 3},
	}
	var added, deleted int
	if err := inNode(t, n, func() (err error) { added, deleted, err = datapath.SyncUnitRules(units); return err }); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"rule 1536 from 10.0.1.16/28 lookup 3",
		"rule 512 to 10.0.1.0/28 lookup main",
		"rule 512 to 10.0.1.16/28 lookup main",
	}
	if got := ruleLines(t, n); !slices.Equal(got, want) || added != 2 || deleted != 4 {
		t.Fatalf("after sync (%d added, %d deleted, want 2 and 4):\n%q\nwant %q", added, deleted, got, want)
	}
	others, err := n.Handle(t).RuleList(netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, r := range others {
		if r.Priority == 1600 || r.Priority == 100 {
			kept++
		}
	}
	if kept != 2 {
		t.Errorf("rules at other priorities: %d left, want both", kept)
	}
	// Idempotent, and AddUnitRules of what is there changes nothing.
	if err := inNode(t, n, func() (err error) {
		if err := datapath.AddUnitRules(units); err != nil {
			return err
		}
		added, deleted, err = datapath.SyncUnitRules(units)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := ruleLines(t, n); !slices.Equal(got, want) || added != 0 || deleted != 0 {
		t.Fatalf("second sync: %d added, %d deleted, rules %q", added, deleted, got)
	}
	// An empty pool leaves no pod rule.
	if err := inNode(t, n, func() (err error) { _, _, err = datapath.SyncUnitRules(nil); return err }); err != nil {
		t.Fatal(err)
	}
	if got := ruleLines(t, n); len(got) != 0 {
		t.Fatalf("rules after syncing an empty pool: %q", got)
	}
}

func TestUnitValidate(t *testing.T) {
	for _, tc := range []struct {
		u    datapath.Unit
		want string
	}{
		{datapath.Unit{Prefix: netip.MustParsePrefix("10.0.1.0/28"), Table: 2}, ""},
		{datapath.Unit{Prefix: netip.MustParsePrefix("10.0.1.5/32"), Table: 254}, ""},
		{datapath.Unit{Prefix: netip.MustParsePrefix("10.0.1.5/28"), Table: 2}, "address unit 10.0.1.5/28: must be an IPv4 prefix with no host bits"},
		{datapath.Unit{Prefix: netip.MustParsePrefix("fd00::/64"), Table: 2}, "address unit fd00::/64: must be an IPv4 prefix with no host bits"},
		{datapath.Unit{Table: 2}, "address unit invalid Prefix: must be an IPv4 prefix with no host bits"},
		{datapath.Unit{Prefix: netip.MustParsePrefix("10.0.1.0/28"), Table: 255}, "address unit 10.0.1.0/28: route table 255: must be 254 (main) or an ENI table other than local (255) and default (253)"},
	} {
		err := tc.u.Validate()
		if (tc.want == "" && err != nil) || (tc.want != "" && (err == nil || err.Error() != tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.u, err, tc.want)
		}
	}
}

// TestUnrouteLeavesOnlyTheDownVeth: Unroute removes the route and rules and
// sets the host veth down, returning it by index; DeleteHostVeth then
// removes the pair and is idempotent.
func TestUnrouteLeavesOnlyTheDownVeth(t *testing.T) {
	netnstest.RequireRoot(t)
	n := node(t)
	p := pod(t, "10.0.1.9", 4)
	if _, err := setup(t, n, p); err != nil {
		t.Fatal(err)
	}
	var left datapath.HostLink
	if err := inNode(t, n, func() (err error) { left, err = datapath.Unroute(p); return err }); err != nil {
		t.Fatal(err)
	}
	if left.Name != p.HostVeth || left.Index <= 0 {
		t.Fatalf("Unroute left %+v, want %s by index", left, p.HostVeth)
	}
	if s := observe(t, n, p); !slices.Equal(s.Host, []string{"link " + p.HostVeth + " type veth mtu 9001 down"}) {
		t.Fatalf("host after Unroute:\n%s", s)
	}
	for range 2 {
		if err := inNode(t, n, func() error { return datapath.DeleteHostVeth(left) }); err != nil {
			t.Fatal(err)
		}
	}
	if s := observe(t, n, p); len(s.Host) != 0 || len(s.Pod) != 0 {
		t.Fatalf("after DeleteHostVeth:\n%s", s)
	}
}
