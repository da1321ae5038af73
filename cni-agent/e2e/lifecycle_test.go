package e2e

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/cniconf"
	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/cni-agent/sim"
	"github.com/vishvananda/netlink"
)

// TestLifecycleWithTheRealAgent walks a node through what kubelet and the
// runtime do around pods: STATUS, ADD, CHECK on a healthy and a broken pod,
// DEL twice, DEL while the agent is down (unwired from the cached result),
// an agent restart from its checkpoint, and a GC that reclaims the address
// the agent-down DEL could not release.
func TestLifecycleWithTheRealAgent(t *testing.T) {
	vpc := newVPC(t)
	n := startNode(t, vpc, "life", "t3.medium", "", nil)
	none := &pod{}
	if _, _, err := n.plugin("STATUS", none, n.pluginConf(nil)); err != nil {
		t.Fatalf("STATUS on a ready node: %v", err)
	}
	p1, p2, p3 := n.newPod("p1"), n.newPod("p2"), n.newPod("p3")
	for _, p := range []*pod{p1, p2, p3} {
		n.addRetrying(p, 60*time.Second)
	}
	check := func(p *pod) error {
		_, _, err := n.plugin("CHECK", p, n.pluginConf(map[string]any{"prevResult": p.result}))
		return err
	}
	if err := check(p1); err != nil {
		t.Fatalf("CHECK on a healthy pod: %v", err)
	}

	// Break p1: its gateway neighbour entry disappears.
	err := sim.RunIn(p1.netns, func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		return netlink.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, IP: net.IP(datapath.Gateway.AsSlice())})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := check(p1); err == nil || !strings.Contains(err.Error(), "missing pod: neigh 169.254.1.1") {
		t.Fatalf("CHECK on a broken pod: %v", err)
	}

	for i := range 2 {
		if _, err := n.del(p1); err != nil {
			t.Fatalf("DEL #%d of p1: %v", i+1, err)
		}
	}
	if _, err := n.client.Check(context.Background(), key(p1)); rpc.CodeOf(err) != rpc.CodeNotFound {
		t.Fatalf("agent after DEL of p1: %v, want NotFound", err)
	}

	n.stopAgent()
	if _, _, err := n.plugin("STATUS", none, n.pluginConf(nil)); err == nil || err.(*cniError).Code != 50 {
		t.Fatalf("STATUS with the agent down: %v, want code 50", err)
	}
	if _, err := n.del(p2); err != nil {
		t.Fatalf("DEL of p2 with the agent down: %v", err)
	}
	if v := n.podVeths(); v != 1 {
		t.Fatalf("%d pod veths after the agent-down DEL, want 1 (p3)", v)
	}

	n.startAgent()
	waitServing(t, n)
	if _, err := n.client.Check(context.Background(), key(p2)); err != nil {
		t.Fatalf("the restarted agent should still hold p2's address (its DEL could not release it): %v", err)
	}
	gc := n.pluginConf(map[string]any{"cni.dev/valid-attachments": []map[string]string{{"containerID": p3.id, "ifname": "eth0"}}})
	if _, _, err := n.plugin("GC", none, gc); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if _, err := n.client.Check(context.Background(), key(p2)); rpc.CodeOf(err) != rpc.CodeNotFound {
		t.Fatalf("p2 after GC: %v, want NotFound", err)
	}
	if err := check(p3); err != nil {
		t.Fatalf("CHECK of the valid attachment after GC and restart: %v", err)
	}
}

func key(p *pod) rpc.Key {
	return rpc.Key{Network: cniconf.DefaultNetworkName, ContainerID: p.id, IfName: "eth0"}
}

// waitServing waits until the agent answers on its socket.
func waitServing(t *testing.T, n *node) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := n.client.Status(context.Background()); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the restarted agent does not serve")
}
