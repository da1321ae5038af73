package agent_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// After a burst the pool refills to its targets in the background; released
// addresses rest for the cooldown before anyone gets them again; once they
// have rested the surplus goes back to EC2.
func TestWarmPoolRefillsShrinksAndHonoursCooldown(t *testing.T) {
	vpc := newVPC(t)
	node := addNode(t, vpc, "warm", "t3.medium")
	ag := startAgent(t, node, "", map[string]string{
		"EKSNET_MODE":              "secondary",
		"EKSNET_WARM_IP_TARGET":    "2",
		"EKSNET_MINIMUM_IP_TARGET": "3",
		"EKSNET_COOLDOWN":          "3s",
	})
	st := ag.waitFor("the minimum", 30*time.Second, func(s rpc.Status) bool { return s.Ready && s.Total == 3 })
	if st.Free != 3 {
		t.Fatalf("fresh pool %+v, want 3 free", st)
	}

	// Burst: 6 pods at once, more than the pool holds.
	burst := map[netip.Addr]rpc.Key{}
	for i := range 6 {
		al := ag.allocate(key(i))
		burst[al.Address] = key(i)
	}
	// Refilled behind the burst: warm IP target 2 on top of 6 assigned.
	ag.waitFor("the pool to refill to 6 assigned + 2 free", 15*time.Second, func(s rpc.Status) bool {
		return s.Assigned == 6 && s.Free == 2 && s.Total == 8
	})

	// Release all six; during the cooldown new pods never get them.
	released := time.Now()
	for i := range 6 {
		if _, err := ag.client.Release(context.Background(), key(i)); err != nil {
			t.Fatal(err)
		}
	}
	st = ag.waitFor("six cooling down", 2*time.Second, func(s rpc.Status) bool { return s.Cooldown == 6 })
	for i := 100; i < 102; i++ {
		al := ag.allocate(key(i))
		if _, reused := burst[al.Address]; reused && time.Since(released) < 3*time.Second {
			t.Fatalf("%s handed to %s %v after it was released, within the 3s cooldown", al.Address, key(i), time.Since(released))
		}
	}
	// 2 assigned + 6 cooling: the pool grows again to keep 2 free (cooling
	// addresses are not free), all within the cooldown.
	ag.waitFor("2 free again during the cooldown", 3*time.Second, func(s rpc.Status) bool { return s.Free >= 2 })

	// After the cooldown the surplus goes back: 2 assigned + 2 warm = 4 >= minimum 3.
	ag.waitFor("the surplus returned", 20*time.Second, func(s rpc.Status) bool {
		return s.Cooldown == 0 && s.Assigned == 2 && s.Total == 4
	})
	if _, calls := ec2Calls(vpc); calls["UnassignPrivateIpAddresses"]+calls["DetachNetworkInterface"] == 0 {
		t.Fatalf("the pool shrank without returning anything to EC2: %v", calls)
	}
	// The addresses went back to EC2: the ENIs hold exactly what the agent holds.
	st = ag.waitFor("status", time.Second, func(rpc.Status) bool { return true })
	ec2Total := 0
	for _, e := range st.ENIs {
		ec2Total += ec2Addresses(t, vpc, node, e.ID)
	}
	if ec2Total != st.Total {
		t.Fatalf("EC2 holds %d secondary addresses on the node's ENIs, the agent %d", ec2Total, st.Total)
	}
	// The returned units' policy rules went with them: one to rule per unit
	// (a secondary IP) still in the pool.
	var to int
	if err := node.Do(func() error {
		rules, err := netlink.RuleList(netlink.FAMILY_V4)
		for _, r := range rules {
			if r.Priority == datapath.ToPodRulePriority {
				to++
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if to != st.Total {
		t.Fatalf("%d to-pod rules on the node after the shrink; the pool holds %d units", to, st.Total)
	}
}

// A pool that is empty and may not grow says so, and says when the first
// cooling address frees, instead of promising addresses that cannot come.
func TestEmptyPoolThatCannotGrowSaysWhyAndWhen(t *testing.T) {
	vpc := newVPC(t)
	full := startAgent(t, addNode(t, vpc, "cap", "t3.medium"), "", map[string]string{"EKSNET_MODE": "secondary", "EKSNET_COOLDOWN": "30s"})
	full.waitFor("ready", 30*time.Second, func(s rpc.Status) bool { return s.Ready })
	for i := range 15 {
		full.allocate(key(i))
	}
	if _, err := full.client.Release(context.Background(), key(0)); err != nil {
		t.Fatal(err)
	}
	_, err := full.client.Allocate(context.Background(), rpc.AllocateRequest{Key: key(15)})
	wantEmpty(t, err, "warm pool empty (14 assigned, 1 cooling down) and no address can be added: the pool holds 15 addresses, all that max pods 16 allows (1 host-network); the first cooling address frees in ")

	// The minimum reached with no warm IP target: nothing is kept free.
	minOnly := startAgent(t, addNode(t, vpc, "min", "t3.medium"), "", map[string]string{
		"EKSNET_MODE": "secondary", "EKSNET_MINIMUM_IP_TARGET": "3", "EKSNET_COOLDOWN": "30s",
	})
	minOnly.waitFor("the minimum", 30*time.Second, func(s rpc.Status) bool { return s.Ready && s.Total == 3 })
	for i := range 3 {
		minOnly.allocate(key(i))
	}
	_, err = minOnly.client.Allocate(context.Background(), rpc.AllocateRequest{Key: key(3)})
	wantEmpty(t, err, "warm pool empty (3 assigned, 0 cooling down) and no address can be added: EKSNET_MINIMUM_IP_TARGET=3 is reached and EKSNET_WARM_IP_TARGET=0 keeps no address free")
	st := minOnly.waitFor("status", time.Second, func(rpc.Status) bool { return true })
	if want := "warm pool empty; no address can be added: EKSNET_MINIMUM_IP_TARGET=3"; !st.Ready || !strings.Contains(st.Reason, want) {
		t.Fatalf("status of a pool that cannot grow: ready %v, reason %q; want ready, %q", st.Ready, st.Reason, want)
	}

	// A pool that may grow but whose growth fails says what failed.
	failing := startAgent(t, addNode(t, vpc, "fail", "t3.medium"), "", map[string]string{"EKSNET_MODE": "secondary", "EKSNET_WARM_IP_TARGET": "1"})
	failing.waitFor("one warm address", 30*time.Second, func(s rpc.Status) bool { return s.Ready && s.Total == 1 })
	if err := vpc.Faults().SetServerErrorRatio(1); err != nil {
		t.Fatal(err)
	}
	defer vpc.Faults().Reset()
	failing.allocate(key(0))
	failing.waitFor("a failed attempt to grow", 60*time.Second, func(s rpc.Status) bool { return len(s.LastErrors) > 0 })
	_, err = failing.client.Allocate(context.Background(), rpc.AllocateRequest{Key: key(1)})
	wantEmpty(t, err, "warm pool empty (1 assigned, 0 cooling down); the agent is adding addresses (its last attempt failed: assigning 1 IPs to ENI ")
}

func wantEmpty(t *testing.T, err error, want string) {
	t.Helper()
	if !isNoAddresses(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("allocation from an empty pool: %v\nwant a NoAddresses error containing %q", err, want)
	}
}
