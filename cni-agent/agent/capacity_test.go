package agent_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// A t3.medium has 3 ENIs of 6 addresses: 3 x 5 = 15 pod addresses in
// secondary mode (max pods 16: the addresses plus kube-proxy, the one host-network pod).
func TestSecondaryModeT3MediumServes15(t *testing.T) {
	vpc := newVPC(t)
	node := addNode(t, vpc, "sec", "t3.medium")
	ag := startAgent(t, node, "", map[string]string{"EKSNET_MODE": "secondary", "EKSNET_COOLDOWN": "1s"})
	st := ag.waitFor("ready", 30*time.Second, func(s rpc.Status) bool { return s.Ready })
	if st.MaxPods != 16 || st.Capacity != 15 {
		t.Fatalf("max pods %d capacity %d, want 16 and 15", st.MaxPods, st.Capacity)
	}
	// The CNI configuration appears only once the agent can serve.
	conflist := filepath.Join(ag.dir, "net.d", "10-eksnet.conflist")
	ag.waitFor("the conflist", 10*time.Second, func(rpc.Status) bool { _, err := os.Stat(conflist); return err == nil })
	if b, _ := os.ReadFile(conflist); !strings.Contains(string(b), ag.env["EKSNET_SOCKET_PATH"]) {
		t.Fatalf("conflist does not point at the agent's socket:\n%s", b)
	}

	seen := map[netip.Addr]rpc.Key{}
	for i := range 15 {
		al := ag.allocate(key(i))
		if other, dup := seen[al.Address]; dup {
			t.Fatalf("%s handed to %s and %s", al.Address, other, key(i))
		}
		seen[al.Address] = key(i)
		if again := ag.allocate(key(i)); again.Address != al.Address {
			t.Fatalf("same key got %s then %s", al.Address, again.Address)
		}
		wantTable := 254
		if al.DeviceNumber > 0 {
			wantTable = al.DeviceNumber + 1
		}
		if al.RouteTable != wantTable || len(al.VPCCIDRs) == 0 || al.MTU != 9001 {
			t.Fatalf("allocation %+v: want table %d, VPC CIDRs and MTU 9001", al, wantTable)
		}
	}
	// A full node answers from its pool, never from EC2: with every EC2
	// (and IMDS) answer stalled far beyond the request's deadline, the 16th
	// allocation still gets its node-full answer, and EC2 sees no call.
	if err := vpc.Faults().SetLatency(10 * time.Minute); err != nil {
		t.Fatal(err)
	}
	callsBefore, _ := ec2Calls(vpc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_, err := ag.client.Allocate(ctx, rpc.AllocateRequest{Key: key(15)})
	cancel()
	callsDuring, _ := ec2Calls(vpc)
	if err := vpc.Faults().SetLatency(0); err != nil {
		t.Fatal(err)
	}
	if !isNoAddresses(err) || !strings.Contains(err.Error(), "node full (15/15)") {
		t.Fatalf("16th allocation with EC2 stalled: %v, want a node full (15/15) error from the pool", err)
	}
	if callsDuring != callsBefore {
		t.Fatalf("16th allocation: %d EC2 calls, want none (a full node answers from its pool)", callsDuring-callsBefore)
	}

	st = ag.waitFor("15 assigned", 5*time.Second, func(s rpc.Status) bool { return s.Assigned == 15 })
	if len(st.ENIs) != 3 {
		t.Fatalf("ENIs %+v, want 3", st.ENIs)
	}
	for _, e := range st.ENIs {
		if e.Total != 5 || e.Assigned != 5 {
			t.Errorf("ENI %s (device %d): %d total, %d assigned; want 5 and 5", e.ID, e.DeviceNumber, e.Total, e.Assigned)
		}
	}
	_, calls := ec2Calls(vpc)
	if calls["CreateNetworkInterface"] != 2 || calls["AttachNetworkInterface"] != 2 || calls["ModifyNetworkInterfaceAttribute"] != 2 {
		t.Errorf("EC2 calls %v: want exactly 2 ENIs created, attached and marked delete-on-termination", calls)
	}

	// The new ENIs are up on the node with their own table and rule.
	err = node.Do(func() error {
		for _, e := range st.ENIs {
			if e.Primary {
				continue
			}
			table := e.DeviceNumber + 1
			routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
			if err != nil || len(routes) == 0 {
				t.Errorf("table %d of %s: %v %v", table, e.ID, routes, err)
				continue
			}
			link, err := netlink.LinkByIndex(routes[0].LinkIndex)
			if err != nil || link.Attrs().Flags&net.FlagUp == 0 || link.Attrs().MTU != 9001 {
				t.Errorf("link of %s: %v (err %v)", e.ID, link, err)
			}
			rules, _ := netlink.RuleListFiltered(netlink.FAMILY_V4, &netlink.Rule{Table: table}, netlink.RT_FILTER_TABLE)
			byPrio := map[int]int{}
			for _, r := range rules {
				byPrio[r.Priority]++
			}
			// The ENI's own address's rule, and one from rule per unit (a
			// secondary IP) of its pool.
			if len(rules) != 1+e.Total || byPrio[1600] != 1 || byPrio[datapath.FromPodRulePriority] != e.Total {
				t.Errorf("rules to table %d: %v; want 1 at 1600 and %d at %d", table, rules, e.Total, datapath.FromPodRulePriority)
			}
		}
		// Every pool unit (here: every assigned address) has exactly its
		// rules at the pod priorities, and nothing else is there.
		list, err := ag.client.List(context.Background())
		if err != nil {
			return err
		}
		want := map[string]bool{}
		for _, al := range list {
			if al.Unit != netip.PrefixFrom(al.Address, 32) {
				t.Errorf("allocation %s: unit %s, want the address's /32 in secondary mode", al.Address, al.Unit)
			}
			want[fmt.Sprintf("512 to %s table 254", al.Unit)] = true
			if al.RouteTable != 254 {
				want[fmt.Sprintf("1536 from %s table %d", al.Unit, al.RouteTable)] = true
			}
		}
		all, err := netlink.RuleList(netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		got := map[string]bool{}
		for _, r := range all {
			switch {
			case r.Priority == datapath.ToPodRulePriority && r.Dst != nil:
				got[fmt.Sprintf("512 to %s table %d", r.Dst, r.Table)] = true
			case r.Priority == datapath.FromPodRulePriority && r.Src != nil:
				got[fmt.Sprintf("1536 from %s table %d", r.Src, r.Table)] = true
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("pod rules on the node:\n%v\nwant (the pool's units):\n%v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Release is idempotent and the list matches what is live.
	if _, err := ag.client.Release(context.Background(), key(3)); err != nil {
		t.Fatal(err)
	}
	if a, err := ag.client.Release(context.Background(), key(3)); err != nil || a != nil {
		t.Fatalf("second release: %v %v", a, err)
	}
	list, _ := ag.client.List(context.Background())
	if len(list) != 14 {
		t.Fatalf("list has %d allocations, want 14", len(list))
	}

	// eksnet-agent status shows the pool per ENI and the assignments.
	out, err := exec.Command(agentBin, "status", "--socket-path", ag.env["EKSNET_SOCKET_PATH"]).CombinedOutput()
	if err != nil {
		t.Fatalf("eksnet-agent status: %v\n%s", err, out)
	}
	for _, want := range append([]string{"agent: ready", "max pods 16, capacity 15", "14 assigned", list[0].Address.String()}, st.ENIs[0].ID+" (primary)", st.ENIs[1].ID, st.ENIs[2].ID) {
		if !strings.Contains(string(out), want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
}

// The user's host-network DaemonSets (nodeGroups[i].hostNetworkDaemonSets,
// EKSNET_HOST_NETWORK_DAEMONSETS) raise max pods, never the addresses: a
// t3.medium running two of them beside kube-proxy has max pods 18 and still
// 15 addresses, whether it computes max pods itself or is told 18, as user
// data tells it.
func TestHostNetworkDaemonSetsTakeSlotsNotAddresses(t *testing.T) {
	vpc := newVPC(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"computed", map[string]string{"EKSNET_HOST_NETWORK_DAEMONSETS": "2"}},
		{"from user data", map[string]string{"EKSNET_HOST_NETWORK_DAEMONSETS": "2", "EKSNET_MAX_PODS": "18"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := addNode(t, vpc, "hn"+tc.name[:1], "t3.medium")
			tc.env["EKSNET_MODE"] = "secondary"
			ag := startAgent(t, node, "", tc.env)
			st := ag.waitFor("ready", 30*time.Second, func(s rpc.Status) bool { return s.Ready })
			if st.MaxPods != 18 || st.Capacity != 15 {
				t.Fatalf("max pods %d capacity %d, want 18 and 15 (max pods less kube-proxy and 2 DaemonSets)", st.MaxPods, st.Capacity)
			}
		})
	}
}

// In prefix mode a t3.medium serves 109 pods (110 max pods - 1 host-network pod, kube-proxy).
func TestPrefixModeT3MediumServes109(t *testing.T) {
	vpc := newVPC(t)
	node := addNode(t, vpc, "pd", "t3.medium")
	// The default reconcile interval, so the call count is what a node makes.
	ag := startAgent(t, node, "", map[string]string{"EKSNET_MODE": "prefix", "EKSNET_RECONCILE_INTERVAL": "60s"})
	st := ag.waitFor("ready", 30*time.Second, func(s rpc.Status) bool { return s.Ready })
	if st.MaxPods != 110 || st.Capacity != 109 {
		t.Fatalf("max pods %d capacity %d, want 110 and 109", st.MaxPods, st.Capacity)
	}
	seen := map[netip.Addr]bool{}
	for i := range 109 {
		al := ag.allocate(key(i))
		if seen[al.Address] {
			t.Fatalf("%s handed out twice", al.Address)
		}
		seen[al.Address] = true
	}
	_, err := ag.client.Allocate(context.Background(), rpc.AllocateRequest{Key: key(109)})
	if !isNoAddresses(err) || !strings.Contains(err.Error(), "node full (109/109)") {
		t.Fatalf("109th allocation: %v", err)
	}
	// Let the pool settle, then count what filling the node cost.
	st = ag.waitFor("the pool to settle at 7 prefixes", 10*time.Second, func(s rpc.Status) bool { return s.Total == 112 })
	prefixes := 0
	for _, e := range st.ENIs {
		prefixes += len(e.Prefixes)
		for _, p := range e.Prefixes {
			if p.Bits() != 28 {
				t.Errorf("prefix %s is not a /28", p)
			}
		}
	}
	if prefixes != 7 || len(st.ENIs) != 2 {
		t.Fatalf("%d prefixes on %d ENIs, want 7 on 2: %+v", prefixes, len(st.ENIs), st.ENIs)
	}
	total, by := ec2Calls(vpc)
	t.Logf("EC2 calls to fill a t3.medium to 109 pods in prefix mode: %d %v", total, by)
	m := ag.metrics()
	t.Logf("mean allocation latency (checkpoint fsync included): %.2f ms over %v allocations",
		1000*m["eksnet_agent_allocation_duration_seconds_sum"]/m["eksnet_agent_allocation_duration_seconds_count"], m["eksnet_agent_allocation_duration_seconds_count"])
	rss := ag.rssKiB()
	t.Logf("agent RSS with 109 allocations: %d KiB", rss)
	if rss > 30*1024 && !raceEnabled { // the race detector multiplies memory
		t.Errorf("agent RSS %d KiB, want at most 30 MiB", rss)
	}
	// 1 describe at start, at most 5 assigns on the primary ENI (5 prefix
	// slots), create (carrying its prefixes) + attach + delete-on-termination,
	// at most 1 more assign on the new ENI: 10 whatever the allocation pace.
	if total > 10 {
		t.Errorf("%d EC2 calls to fill the node, want at most 10: %v", total, by)
	}
}
