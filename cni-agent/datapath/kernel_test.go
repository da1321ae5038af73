package datapath_test

import (
	"errors"
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
	a, b := pod(t, "10.0.1.5", 254), pod(t, "10.0.2.7", 3)
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
	// pods would be unroutable; pod-to-node and pod-to-pod use main (to-pod
	// rule and the node's local table).
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
		if s := observe(t, n, p); len(s.Host)+len(s.Pod) != 0 {
			t.Fatalf("left behind after teardown:\n%s", s)
		}
	}
}

func TestVerifyNamesWhatIsBroken(t *testing.T) {
	netnstest.RequireRoot(t)
	n := node(t)
	p := pod(t, "10.0.1.5", 2)
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
	for _, want := range []string{"missing host: rule 1536 from 10.0.1.5/32 lookup 2", "missing pod: neigh 169.254.1.1 dev eth0"} {
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
	current := pod(t, "10.0.1.5", 2)
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
	next := pod(t, "10.0.1.6", 2)
	next.HostVeth = current.HostVeth
	if _, err := setup(t, n, next); err != nil {
		t.Fatal(err)
	}
	if err := inNode(t, n, func() error { return datapath.Verify(next) }); err != nil {
		t.Fatal(err)
	}
	if s := observe(t, n, datapath.Pod{Netns: next.Netns, IfName: "none", HostVeth: "none", Address: current.Address}); len(s.Host) != 0 {
		t.Fatalf("the replaced sandbox's rules are still there:\n%s", s)
	}
}

// TestStaleRulesAreReplacedAndRemoved: rules for the address left by a DEL
// that never came (pointing at another ENI's table, one of each kind twice)
// are replaced by Setup and all gone after Teardown; another pod's rules at
// the same priorities stay. Deletion is by exact match, so this is what
// shows the selector matches any table and loops over duplicates.
func TestStaleRulesAreReplacedAndRemoved(t *testing.T) {
	netnstest.RequireRoot(t)
	n := node(t)
	p := pod(t, "10.0.1.7", 3)
	other := netip.MustParseAddr("10.0.1.8")
	rule := func(prio int, to bool, a netip.Addr, table int) *netlink.Rule {
		r := netlink.NewRule()
		r.Family, r.Priority, r.Table = netlink.FAMILY_V4, prio, table
		n := &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(32, 32)}
		if to {
			r.Dst = n
		} else {
			r.Src = n
		}
		return r
	}
	stale := []*netlink.Rule{
		rule(datapath.ToPodRulePriority, true, p.Address, 9),
		rule(datapath.FromPodRulePriority, false, p.Address, 7),
		rule(datapath.FromPodRulePriority, false, p.Address, 8),
		rule(datapath.ToPodRulePriority, true, other, datapath.MainTable),
		rule(datapath.FromPodRulePriority, false, other, 7),
	}
	if err := inNode(t, n, func() error {
		for _, r := range stale {
			if err := netlink.RuleAdd(r); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := setup(t, n, p); err != nil {
		t.Fatal(err)
	}
	if err := inNode(t, n, func() error { return datapath.Verify(p) }); err != nil {
		t.Fatalf("stale rules survived Setup: %v", err)
	}
	if err := inNode(t, n, func() error { return datapath.Teardown(p) }); err != nil {
		t.Fatal(err)
	}
	if s := observe(t, n, datapath.Pod{Netns: p.Netns, IfName: "none", HostVeth: "none", Address: p.Address}); len(s.Host) != 0 {
		t.Fatalf("rules for %s left after Teardown:\n%s", p.Address, s)
	}
	want := []string{"rule 1536 from 10.0.1.8/32 lookup 7", "rule 512 to 10.0.1.8/32 lookup main"}
	if s := observe(t, n, datapath.Pod{Netns: p.Netns, IfName: "none", HostVeth: "none", Address: other}); !slices.Equal(s.Host, want) {
		t.Fatalf("another pod's rules changed:\n%s\nwant %q", s, want)
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
