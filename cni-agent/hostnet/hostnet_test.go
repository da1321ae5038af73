package hostnet

import (
	"context"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inNewNetns runs fn on a locked thread inside a fresh, anonymous network
// namespace that disappears with the test; the root namespace is untouched.
func inNewNetns(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		// The thread is never unlocked: it dies with the goroutine, so the
		// namespace cannot leak onto another goroutine.
		if _, err := netns.New(); err != nil {
			t.Errorf("creating netns: %v", err)
			return
		}
		fn()
	}()
	<-done
}

func TestSetupENI(t *testing.T) {
	inNewNetns(t, func() {
		mac, _ := net.ParseMAC("02:00:00:aa:bb:01")
		primaryMAC, _ := net.ParseMAC("02:00:00:aa:bb:00")
		for _, v := range []*netlink.Veth{
			{LinkAttrs: netlink.LinkAttrs{Name: "eth1", HardwareAddr: mac}, PeerName: "peer1"},
			{LinkAttrs: netlink.LinkAttrs{Name: "eth0", HardwareAddr: primaryMAC}, PeerName: "peer0"},
		} {
			if err := netlink.LinkAdd(v); err != nil {
				t.Errorf("adding veth: %v", err)
				return
			}
		}
		peer, _ := netlink.LinkByName("peer1")
		netlink.LinkSetUp(peer)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e := ENI{MAC: mac.String(), DeviceNumber: 2, PrimaryIP: netip.MustParseAddr("10.0.1.20"), SubnetCIDR: netip.MustParsePrefix("10.0.1.0/24")}
		for range 2 { // idempotent
			name, err := SetupENI(ctx, e, 1500)
			if err != nil || name != "eth1" {
				t.Errorf("SetupENI: %q %v", name, err)
				return
			}
		}
		link, _ := netlink.LinkByName("eth1")
		if link.Attrs().MTU != 1500 || link.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("eth1 mtu %d flags %v", link.Attrs().MTU, link.Attrs().Flags)
		}
		routes, _ := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 3}, netlink.RT_FILTER_TABLE)
		var got []string
		for _, r := range routes {
			got = append(got, r.String())
		}
		joined := strings.Join(got, "\n")
		if len(routes) != 3 || !strings.Contains(joined, "Gw: 10.0.1.1") || !strings.Contains(joined, "Dst: 10.0.1.0/24") {
			t.Errorf("table 3:\n%s", joined)
		}
		rules, _ := netlink.RuleListFiltered(netlink.FAMILY_V4, &netlink.Rule{Table: 3}, netlink.RT_FILTER_TABLE)
		if len(rules) != 1 || rules[0].Src.String() != "10.0.1.20/32" || rules[0].Priority != RulePriority {
			t.Errorf("rules for table 3: %+v", rules)
		}
		if err := LoosenRPFilter(ctx, primaryMAC.String()); err != nil {
			t.Error(err)
		}
		if b, _ := os.ReadFile("/proc/sys/net/ipv4/conf/eth0/rp_filter"); strings.TrimSpace(string(b)) != "2" {
			t.Errorf("rp_filter on eth0 = %q", b)
		}
		if err := TeardownENI(e); err != nil {
			t.Error(err)
		}
		rules, _ = netlink.RuleListFiltered(netlink.FAMILY_V4, &netlink.Rule{Table: 3}, netlink.RT_FILTER_TABLE)
		routes, _ = netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 3}, netlink.RT_FILTER_TABLE)
		if len(rules) != 0 || len(routes) != 0 {
			t.Errorf("after teardown: rules %v routes %v", rules, routes)
		}
	})
}

func TestTableFor(t *testing.T) {
	for dev, want := range map[int]int{0: 254, 1: 2, 2: 3, 14: 15} {
		if got := TableFor(dev); got != want {
			t.Errorf("TableFor(%d) = %d, want %d", dev, got, want)
		}
	}
}

func TestWaitLinkTimesOut(t *testing.T) {
	inNewNetns(t, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := WaitLink(ctx, "02:00:00:00:00:99"); err == nil {
			t.Error("found a link that does not exist")
		}
	})
}
