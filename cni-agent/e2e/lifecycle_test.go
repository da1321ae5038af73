package e2e

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/sim"
	"github.com/eksnet/eksnet/sim/simcluster"
	"github.com/vishvananda/netlink"
)

// TestLifecycleWithTheRealAgent walks a node through what kubelet and the
// runtime do around pods: STATUS, ADD, CHECK on a healthy and a broken pod,
// DEL twice, DEL while the agent is down after a crash (unwired from the
// cached result), an agent restart from its checkpoint, and a GC that reclaims the address
// the agent-down DEL could not release.
func TestLifecycleWithTheRealAgent(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	n := startNode(t, c, "life", "t3.medium", "", nil)
	none := &simcluster.Pod{}
	if _, _, err := n.Exec(ctx, "STATUS", none, nil); err != nil {
		t.Fatalf("STATUS on a ready node: %v", err)
	}
	p1, p2, p3 := newPod(t, n, "p1"), newPod(t, n, "p2"), newPod(t, n, "p3")
	for _, p := range []*simcluster.Pod{p1, p2, p3} {
		addRetrying(t, n, p, 60*time.Second)
	}
	if err := n.Check(ctx, p1); err != nil {
		t.Fatalf("CHECK on a healthy pod: %v", err)
	}

	// Break p1: its gateway neighbour entry disappears.
	err := sim.RunIn(p1.NetNS, func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		return netlink.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, IP: net.IP(datapath.Gateway.AsSlice())})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Check(ctx, p1); err == nil || !strings.Contains(err.Error(), "missing pod: neigh 169.254.1.1") {
		t.Fatalf("CHECK on a broken pod: %v", err)
	}

	for i := range 2 {
		if _, err := n.Del(ctx, p1); err != nil {
			t.Fatalf("DEL #%d of p1: %v", i+1, err)
		}
	}
	if _, err := n.Allocation(ctx, p1); rpc.CodeOf(err) != rpc.CodeNotFound {
		t.Fatalf("agent after DEL of p1: %v, want NotFound", err)
	}

	// A crash (SIGKILL), not a stop: systemd restarts the agent, so the
	// stop hook leaves the conflist and the runtime still calls the plugin.
	if err := n.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(n.ConflistPath()); err != nil {
		t.Fatalf("the conflist after one crash: %v, want it kept (only a crash loop withdraws it)", err)
	}
	if _, _, err := n.Exec(ctx, "STATUS", none, nil); cniError(err) == nil || cniError(err).Code != 50 {
		t.Fatalf("STATUS with the agent down: %v, want code 50", err)
	}
	if _, err := n.Del(ctx, p2); err != nil {
		t.Fatalf("DEL of p2 with the agent down: %v", err)
	}
	if v := podVeths(t, n); v != 1 {
		t.Fatalf("%d pod veths after the agent-down DEL, want 1 (p3)", v)
	}

	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.WaitServing(wctx); err != nil {
		t.Fatalf("the restarted agent does not serve: %v", err)
	}
	if _, err := n.Allocation(ctx, p2); err != nil {
		t.Fatalf("the restarted agent should still hold p2's address (its DEL could not release it): %v", err)
	}
	gc := map[string]any{"cni.dev/valid-attachments": []map[string]string{{"containerID": p3.ContainerID, "ifname": "eth0"}}}
	if _, _, err := n.Exec(ctx, "GC", none, gc); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if _, err := n.Allocation(ctx, p2); rpc.CodeOf(err) != rpc.CodeNotFound {
		t.Fatalf("p2 after GC: %v, want NotFound", err)
	}
	if err := n.Check(ctx, p3); err != nil {
		t.Fatalf("CHECK of the valid attachment after GC and restart: %v", err)
	}
}
