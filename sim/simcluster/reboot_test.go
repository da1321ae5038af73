package simcluster

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/eksnet/eksnet/cni-agent/checkpoint"
	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/sim"
)

// rebootEnv pins the pool so that nothing but a defect changes it: 9
// addresses over two ENIs whatever the pods do (minimum 9, 2 kept free),
// a short cooldown, and AL2023's nodeadm marker.
var rebootEnv = map[string]string{"EKSNET_MODE": "secondary", "EKSNET_WARM_IP_TARGET": "2",
	"EKSNET_MINIMUM_IP_TARGET": "9", "EKSNET_COOLDOWN": "3s", "EKSNET_ATTACH_AFTER": "/run/nodeadm/init"}

// hostView renders the node's host network as text: every policy rule,
// every route outside the local table (pod routes by their veth's name,
// not its index), the links that are not pods' veths, and each nftables
// chain with its rule count. Two views are equal when nothing is stale
// and nothing was set up twice.
type hostView struct {
	host []string // rules, ENI routes, links, nftables
	pods []string // main-table routes over pod veths: "ADDR dev VETH"
}

func viewOf(t *testing.T, n *Node) hostView {
	t.Helper()
	var v hostView
	err := sim.RunIn(n.Sim().NetNSPath(), func() error {
		rules, err := netlink.RuleList(netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range rules {
			v.host = append(v.host, fmt.Sprintf("rule %d from %v to %v mark %#x table %d", r.Priority, r.Src, r.Dst, r.Mark, r.Table))
		}
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		names := map[int]string{}
		for _, l := range links {
			names[l.Attrs().Index] = l.Attrs().Name
			if l.Type() == "veth" && strings.HasPrefix(l.Attrs().Name, DefaultVethPrefix) {
				continue
			}
			addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
			if err != nil {
				return err
			}
			v.host = append(v.host, fmt.Sprintf("link %s %s mtu %d flags %v addrs %v", l.Attrs().Name, l.Attrs().HardwareAddr, l.Attrs().MTU, l.Attrs().Flags, addrs))
		}
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Table == 255 {
				continue
			}
			dev := names[r.LinkIndex]
			if strings.HasPrefix(dev, DefaultVethPrefix) {
				v.pods = append(v.pods, fmt.Sprintf("%v dev %s", r.Dst, dev))
				continue
			}
			v.host = append(v.host, fmt.Sprintf("route table %d %v via %v dev %s src %v scope %d", r.Table, r.Dst, r.Gw, dev, r.Src, r.Scope))
		}
		h, err := netns.Get()
		if err != nil {
			return err
		}
		defer h.Close()
		nft, err := nftables.New(nftables.WithNetNSFd(int(h)))
		if err != nil {
			return err
		}
		chains, err := nft.ListChains()
		if err != nil {
			return err
		}
		for _, c := range chains {
			rs, err := nft.GetRules(c.Table, c)
			if err != nil {
				return err
			}
			v.host = append(v.host, fmt.Sprintf("nft %s/%s: %d rules", c.Table.Name, c.Name, len(rs)))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading the host network of %s: %v", n.Name(), err)
	}
	slices.Sort(v.host)
	slices.Sort(v.pods)
	return v
}

func diffLines(a, b []string) string {
	var out []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			out = append(out, "+ "+l)
		}
	}
	if len(out) == 0 && len(a) != len(b) {
		out = append(out, fmt.Sprintf("same lines, %d vs %d of them (a duplicate)", len(a), len(b)))
	}
	return strings.Join(out, "\n")
}

// eniState is the instance's ENIs as EC2 has them: id, device, addresses.
func eniState(t *testing.T, c *Cluster, n *Node) []string {
	t.Helper()
	inst, ok := c.VPC().Cloud().Instance(n.Sim().InstanceID)
	if !ok {
		t.Fatalf("instance of %s not in EC2", n.Name())
	}
	var out []string
	for _, e := range inst.ENIs {
		out = append(out, fmt.Sprintf("%s dev %d %s %s %v %v", e.ID, e.DeviceIndex, e.AttachmentID, e.Status, e.Secondary, e.Prefixes))
	}
	return out
}

// changingCalls are the EC2 calls that change ENIs or their addresses.
func changingCalls(c *Cluster) map[string]int {
	out := map[string]int{}
	for action, n := range EC2CallsOf(c.VPC().Calls()).ByAction {
		if !strings.HasPrefix(action, "Describe") {
			out[action] = n
		}
	}
	return out
}

// waitPool waits for the pool to hold total addresses with nothing cooling,
// three polls in a row.
func waitPool(t *testing.T, ctx context.Context, n *Node, total, assigned int) rpc.Status {
	t.Helper()
	stable := 0
	for {
		st, err := n.Status(ctx)
		if err == nil && st.Total == total && st.Assigned == assigned && st.Cooldown == 0 {
			if stable++; stable == 3 {
				return st
			}
		} else {
			stable = 0
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pool of %s never settled at %d addresses, %d assigned, none cooling: %+v, %v", n.Name(), total, assigned, st, err)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// serveAll starts a probe server in every pod; closed when the test ends
// or by the returned func.
func serveAll(t *testing.T, pods []*Pod) func() {
	t.Helper()
	var lns []net.Listener
	for _, p := range pods {
		ln, _, err := ServePod(p)
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
	}
	stop := func() {
		for _, ln := range lns {
			ln.Close()
		}
		lns = nil
	}
	t.Cleanup(stop)
	return stop
}

// checkTraffic proves every pod's datapath: each reaches the next pod with
// its own address (no NAT inside the VPC), the VPC router reaches it, and
// it reaches the internet as the node's address (SNAT).
func checkTraffic(t *testing.T, ctx context.Context, c *Cluster, n *Node, pods []*Pod, when string) {
	t.Helper()
	for i, p := range pods {
		// Each probe on its own clock: a broken path costs seconds, not
		// the test's whole deadline.
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		next := pods[(i+1)%len(pods)]
		if got, err := SourceSeen(ctx, p.NetNS, netip.AddrPortFrom(next.Addr, ProbePort)); err != nil || got != p.Addr {
			t.Errorf("%s: %s -> %s: seen as %v, %v; want %s", when, p.Name, next.Name, got, err, p.Addr)
		}
		if _, err := SourceSeen(ctx, c.VPC().RouterNetNSPath(), netip.AddrPortFrom(p.Addr, ProbePort)); err != nil {
			t.Errorf("%s: the VPC router cannot reach %s at %s: %v", when, p.Name, p.Addr, err)
		}
		if got, err := SourceSeen(ctx, p.NetNS, c.VPC().InternetEcho()); err != nil || got != n.Sim().PrimaryIP {
			t.Errorf("%s: %s -> internet: seen as %v, %v; want the node's %s", when, p.Name, got, err, n.Sim().PrimaryIP)
		}
	}
}

func addPods(t *testing.T, ctx context.Context, n *Node, prefix string, count int) []*Pod {
	t.Helper()
	var pods []*Pod
	for i := range count {
		p, err := n.NewPod(fmt.Sprintf("%s-%d", prefix, i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.AddRetrying(ctx, p, time.Minute); err != nil {
			t.Fatalf("ADD %s: %v", p.Name, err)
		}
		pods = append(pods, p)
	}
	return pods
}

// allocations maps container ID -> "address on ENI" from the agent.
func allocations(t *testing.T, ctx context.Context, n *Node) map[string]string {
	t.Helper()
	list, err := n.Client().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	seen := map[netip.Addr]string{}
	for _, a := range list {
		if other, dup := seen[a.Address]; dup {
			t.Errorf("%s is allocated twice: %s and %s", a.Address, other, a.Key.ContainerID)
		}
		seen[a.Address] = a.Key.ContainerID
		out[a.Key.ContainerID] = a.Address.String() + " on " + a.ENIID
	}
	return out
}

// checkpointed maps container ID -> the checkpoint's record of it.
func checkpointed(t *testing.T, n *Node) map[string]string {
	t.Helper()
	f, err := checkpoint.Load(n.Env()["EKSNET_CHECKPOINT_PATH"])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range f.Assignments {
		out[a.Key.ContainerID] = fmt.Sprintf("%s on %s netns %s pod %s/%s since %s", a.Address, a.ENIID, a.Netns, a.PodNamespace, a.PodName, a.Since.Format(time.RFC3339Nano))
	}
	return out
}

// TestNodeReboot: a node reboots (pod sandboxes and the kernel's state
// gone, ENIs still attached with their addresses, the checkpoint on disk).
// The agent comes back with the old sandboxes' allocations released and
// the host set up as before, once: same rules, ENI routes, SNAT chains, no
// pod veth or route left. The runtime's DEL of a dead sandbox succeeds.
// Each pod's new sandbox (new container ID, new netns) gets the address
// its pod had, from the same ENI, so no EC2 call changes anything; a pod
// that does not come back leaves its address cooling, then free; traffic
// works as before the reboot.
func TestNodeReboot(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	n := startNode(t, c, "rb", "", rebootEnv)
	pods := addPods(t, ctx, n, "rb", 7)
	waitPool(t, ctx, n, 9, 7)
	stopServing := serveAll(t, pods)
	checkTraffic(t, ctx, c, n, pods, "before the reboot")
	before := allocations(t, ctx, n)
	onSecondary := 0
	for _, p := range pods {
		al, err := n.Allocation(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if al.RouteTable != 254 {
			onSecondary++
		}
	}
	if onSecondary == 0 {
		t.Fatal("no pod on a secondary ENI: the reboot would not test its host setup")
	}
	viewBefore := viewOf(t, n)
	enisBefore := eniState(t, c, n)
	callsBefore := changingCalls(c)
	stBefore, _ := n.Status(ctx)

	stopServing() // the pods' processes die with the node
	if err := n.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitServing(ctx); err != nil {
		t.Fatal(err)
	}
	if n.Starts() != 2 {
		t.Fatalf("agent started %d times, want 2 (boot, reboot)", n.Starts())
	}
	if _, err := os.Stat(n.Env()["EKSNET_ATTACH_AFTER"]); err != nil {
		t.Errorf("nodeadm's marker after the reboot: %v", err)
	}

	// Booted, no sandbox yet: nothing of the dead ones is left.
	if got := allocations(t, ctx, n); len(got) != 0 {
		t.Errorf("allocations of dead sandboxes after the reboot: %v", got)
	}
	if got := checkpointed(t, n); len(got) != 0 {
		t.Errorf("checkpoint entries of dead sandboxes after the reboot: %v", got)
	}
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != stBefore.Total || st.Assigned != 0 || st.Cooldown != 7 {
		t.Errorf("pool after the reboot: %d total, %d assigned, %d cooling; want %d, 0, 7", st.Total, st.Assigned, st.Cooldown, stBefore.Total)
	}
	booted := viewOf(t, n)
	if d := diffLines(viewBefore.host, booted.host); d != "" {
		t.Errorf("host network after the reboot differs from before it:\n%s", d)
	}
	if len(booted.pods) != 0 {
		t.Errorf("pod routes after the reboot, with no sandbox: %v", booted.pods)
	}
	if v, err := n.PodVeths(); err != nil || v != 0 {
		t.Errorf("pod veths after the reboot: %d, %v", v, err)
	}

	// The runtime tears down the dead sandboxes: DEL with the old
	// container ID and a netns that no longer exists succeeds.
	for _, p := range pods {
		if _, err := n.Del(ctx, p); err != nil {
			t.Errorf("DEL of the dead sandbox of %s: %v", p.Name, err)
		}
	}
	// New sandboxes for 6 of the 7 pods; rb-6 does not come back.
	var reborn []*Pod
	for _, p := range pods[:6] {
		np, err := n.NewSandbox(p)
		if err != nil {
			t.Fatal(err)
		}
		if np.ContainerID == p.ContainerID || np.NetNS == p.NetNS {
			t.Fatalf("new sandbox of %s reuses %s / %s", p.Name, np.ContainerID, np.NetNS)
		}
		if _, err := n.AddRetrying(ctx, np, time.Minute); err != nil {
			t.Fatalf("ADD of the new sandbox of %s: %v", p.Name, err)
		}
		if want := strings.Fields(before[p.ContainerID])[0]; np.Addr.String() != want {
			t.Errorf("pod %s came back with %s, want its address %s", p.Name, np.Addr, want)
		}
		reborn = append(reborn, np)
	}
	after := allocations(t, ctx, n)
	for i, np := range reborn {
		if after[np.ContainerID] != before[pods[i].ContainerID] {
			t.Errorf("pod %s: %q after the reboot, %q before", np.Name, after[np.ContainerID], before[pods[i].ContainerID])
		}
	}
	if len(after) != 6 {
		t.Errorf("allocations after the pods came back: %v; want the 6 new sandboxes only", after)
	}
	ck := checkpointed(t, n)
	if !slices.Equal(slices.Sorted(maps.Keys(ck)), slices.Sorted(maps.Keys(after))) {
		t.Errorf("checkpoint holds %v, the agent %v", slices.Sorted(maps.Keys(ck)), slices.Sorted(maps.Keys(after)))
	}
	serveAll(t, reborn)
	checkTraffic(t, ctx, c, n, reborn, "after the reboot")

	// rb-6's address cools down, then is free; the pool never changed.
	st = waitPool(t, ctx, n, stBefore.Total, 6)
	if st.Free != st.Total-6 {
		t.Errorf("after the cooldown: %+v; want the dead sandbox's address free", st)
	}
	if got := eniState(t, c, n); !slices.Equal(got, enisBefore) {
		t.Errorf("EC2's ENIs of the node changed:\nbefore %v\nafter  %v", enisBefore, got)
	}
	if got := changingCalls(c); !maps.Equal(got, callsBefore) {
		t.Errorf("EC2 calls that change ENIs or addresses: %v before the reboot, %v after", callsBefore, got)
	}
	final := viewOf(t, n)
	if d := diffLines(viewBefore.host, final.host); d != "" {
		t.Errorf("host network with the pods back differs from before the reboot:\n%s", d)
	}
	if len(final.pods) != 6 {
		t.Errorf("pod routes with 6 pods back: %v", final.pods)
	}
	// A new pod gets an address nobody holds.
	extra := addPods(t, ctx, n, "rbnew", 1)
	allocations(t, ctx, n) // fails on a duplicate
	serveAll(t, extra)
	checkTraffic(t, ctx, c, n, append(reborn, extra...), "with a new pod")
}

// TestAgentUpgradeInPlace: the agent and plugin are replaced by a new
// build on a running node (systemctl restart). The pods keep running and
// are never called: same addresses, same checkpoint entries, same host
// network, traffic uninterrupted during the restart; no EC2 call changes
// anything; the new agent reports its version and the new plugin is
// installed and serves both the old pods (CHECK) and new ones.
func TestAgentUpgradeInPlace(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	wd, _ := os.Getwd()
	root, ok := SourceRoot(wd)
	if !ok {
		t.Fatal("no source tree")
	}
	const newVersion = "v99.1.0-upgrade-test"
	newBins, err := BuildVersion(ctx, root, t.TempDir(), newVersion)
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, c, "up", "", rebootEnv)
	pods := addPods(t, ctx, n, "up", 7)
	waitPool(t, ctx, n, 9, 7)
	serveAll(t, pods)
	checkTraffic(t, ctx, c, n, pods, "before the upgrade")
	stBefore, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stBefore.Version == "" || stBefore.Version == newVersion {
		t.Fatalf("the old agent reports version %q", stBefore.Version)
	}
	before := allocations(t, ctx, n)
	ckBefore := checkpointed(t, n)
	viewBefore := viewOf(t, n)
	enisBefore := eniState(t, c, n)
	callsBefore := changingCalls(c)

	// Traffic between two pods all through the restart.
	var probes, failures atomic.Int64
	var lastErr atomic.Value
	probeCtx, stopProbe := context.WithCancel(ctx)
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		for probeCtx.Err() == nil {
			probes.Add(1)
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := SourceSeen(pctx, pods[0].NetNS, netip.AddrPortFrom(pods[6].Addr, ProbePort))
			cancel()
			if err != nil {
				failures.Add(1)
				lastErr.Store(err.Error())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if err := n.Upgrade(ctx, newBins); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitServing(ctx); err != nil {
		t.Fatal(err)
	}
	stopProbe()
	<-probeDone
	if f := failures.Load(); f > 0 || probes.Load() < 3 {
		t.Errorf("pod -> pod during the upgrade: %d of %d probes failed (last: %v)", f, probes.Load(), lastErr.Load())
	}

	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != newVersion || n.Starts() != 2 {
		t.Errorf("after the upgrade the agent reports version %q (started %d times), want %q", st.Version, n.Starts(), newVersion)
	}
	if st.Total != stBefore.Total || st.Assigned != 7 || st.Cooldown != 0 {
		t.Errorf("pool after the upgrade: %+v; before: %+v", st, stBefore)
	}
	installed, err := os.ReadFile(n.PluginPath())
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := os.ReadFile(newBins.Plugin); !bytes.Equal(installed, want) {
		t.Error("the installed plugin is not the new build's")
	}
	if got := allocations(t, ctx, n); !maps.Equal(got, before) {
		t.Errorf("allocations changed across the upgrade:\nbefore %v\nafter  %v", before, got)
	}
	if got := checkpointed(t, n); !maps.Equal(got, ckBefore) {
		t.Errorf("checkpoint changed across the upgrade:\nbefore %v\nafter  %v", ckBefore, got)
	}
	view := viewOf(t, n)
	if d := diffLines(viewBefore.host, view.host); d != "" {
		t.Errorf("host network changed across the upgrade:\n%s", d)
	}
	if d := diffLines(viewBefore.pods, view.pods); d != "" {
		t.Errorf("pod routes changed across the upgrade:\n%s", d)
	}
	if v, err := n.PodVeths(); err != nil || v != 7 {
		t.Errorf("pod veths after the upgrade: %d, %v; want 7", v, err)
	}
	for _, p := range pods {
		if err := n.Check(ctx, p); err != nil {
			t.Errorf("CHECK of %s by the new plugin: %v", p.Name, err)
		}
	}
	checkTraffic(t, ctx, c, n, pods, "after the upgrade")
	if got := eniState(t, c, n); !slices.Equal(got, enisBefore) {
		t.Errorf("EC2's ENIs of the node changed:\nbefore %v\nafter  %v", enisBefore, got)
	}
	if got := changingCalls(c); !maps.Equal(got, callsBefore) {
		t.Errorf("EC2 calls that change ENIs or addresses: %v before the upgrade, %v after", callsBefore, got)
	}

	// New pods after the upgrade: fresh addresses, none handed out twice.
	extra := addPods(t, ctx, n, "upnew", 2)
	got := allocations(t, ctx, n)
	if len(got) != 9 {
		t.Errorf("allocations with 2 new pods: %v", got)
	}
	serveAll(t, extra)
	checkTraffic(t, ctx, c, n, append(pods, extra...), "with new pods")
}
