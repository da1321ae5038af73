package agent_test

import (
	"context"
	"net/netip"
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
