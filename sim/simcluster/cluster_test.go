package simcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/sim"
)

var testBins Binaries

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // the cluster tests skip
	}
	dir, err := os.MkdirTemp("", "simcluster-bins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	wd, _ := os.Getwd()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if testBins, err = BuildFromTree(ctx, wd, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func newCluster(t *testing.T) *Cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := New(ctx, Config{Binaries: testBins, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Nodes() {
				t.Logf("agent log of %s (tail):\n%s", n.Name(), n.LogTail(40))
			}
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func startNode(t *testing.T, c *Cluster, name, subnet string, env map[string]string) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n, err := c.StartNode(ctx, NodeSpec{Name: name, InstanceType: "t3.medium", Subnet: subnet, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	if !n.Running() || n.Starts() != 1 {
		t.Fatalf("StartNode %s: running %v, starts %d; want a running agent started once", name, n.Running(), n.Starts())
	}
	if _, err := os.Stat(n.ConflistPath()); err != nil {
		t.Fatalf("StartNode %s returned before the conflist was installed: %v", name, err)
	}
	return n
}

// TestClusterLifecycle drives the whole library against the real binaries:
// two nodes in different subnets, pods through the plugin (some on a
// secondary ENI), pod -> pod across nodes with the pod's own address, pod
// -> internet as the node's address, EC2 calls counted, the agent killed
// and restarted with its pods intact, a pod removed, and Close leaving no
// namespace and no agent behind.
func TestClusterLifecycle(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a := startNode(t, c, "a", "us-east-1a", map[string]string{"EKSNET_MODE": "secondary"})
	b := startNode(t, c, "b", "us-east-1b", nil)
	if got := a.Env()["EKSNET_CLUSTER"]; got != c.VPC().Name() {
		t.Fatalf("EKSNET_CLUSTER defaulted to %q, want the VPC's name %q", got, c.VPC().Name())
	}
	envFile, err := os.ReadFile(a.EnvFile())
	if err != nil || !strings.Contains(string(envFile), "EKSNET_MODE=secondary\n") {
		t.Fatalf("agent.env of a: %q, %v", envFile, err)
	}

	// 7 pods: a t3.medium's primary ENI holds 5, so 2 land on a secondary ENI.
	var pods []*Pod
	seen := map[string]bool{}
	var onSecondary *Pod
	for i := range 7 {
		p, err := a.NewPod(fmt.Sprintf("a-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		res, err := a.AddRetrying(ctx, p, time.Minute)
		if err != nil {
			t.Fatalf("ADD %s: %v", p.Name, err)
		}
		if res.Tries < 1 || res.Took <= 0 || res.Elapsed < res.Took {
			t.Fatalf("ADD %s result %+v: inconsistent", p.Name, res)
		}
		if seen[p.Addr.String()] {
			t.Fatalf("pod %s got %s twice", p.Name, p.Addr)
		}
		seen[p.Addr.String()] = true
		al, err := a.Allocation(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if al.Address != p.Addr {
			t.Fatalf("agent says %s holds %s, the ADD result says %s", p.Name, al.Address, p.Addr)
		}
		if al.DeviceNumber > 0 && onSecondary == nil {
			onSecondary = p
		}
		pods = append(pods, p)
	}
	if onSecondary == nil {
		t.Fatal("7 pods on a t3.medium, none on a secondary ENI")
	}
	if v, err := a.PodVeths(); err != nil || v != len(pods) {
		t.Fatalf("PodVeths of a: %d (%v), want one per pod: %d", v, err, len(pods))
	}
	if v, err := b.PodVeths(); err != nil || v != 0 {
		t.Fatalf("PodVeths of b before any pod: %d (%v), want 0", v, err)
	}
	if err := a.Check(ctx, pods[0]); err != nil {
		t.Fatalf("CHECK of a wired pod: %v", err)
	}
	remote, err := b.NewPod("b-0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddRetrying(ctx, remote, time.Minute); err != nil {
		t.Fatal(err)
	}
	ln, to, err := ServePod(remote)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, p := range []*Pod{pods[0], onSecondary} {
		if got, err := SourceSeen(ctx, p.NetNS, to); err != nil || got != p.Addr {
			t.Fatalf("pod %s -> pod %s across nodes: server saw %v (%v), want the pod's own %s", p.Name, remote.Name, got, err, p.Addr)
		}
		if got, err := SourceSeen(ctx, p.NetNS, c.VPC().InternetEcho()); err != nil || got != a.Sim().PrimaryIP {
			t.Fatalf("pod %s -> internet: echo saw %v (%v), want node a's %s", p.Name, got, err, a.Sim().PrimaryIP)
		}
	}
	calls := EC2CallsOf(c.VPC().Calls())
	t.Logf("pods on a: %d, secondary-ENI pod %s at %s; EC2 calls %+v", len(pods), onSecondary.Name, onSecondary.Addr, calls)
	if calls.ByAction["CreateNetworkInterface"] < 1 || calls.ByAction["AttachNetworkInterface"] < 1 || calls.ByAction["AssignPrivateIpAddresses"] < 1 {
		t.Fatalf("EC2 calls %+v: want the secondary ENI created, attached and given addresses", calls)
	}

	// Crash: the restarted agent restores pods from its checkpoint.
	pid := a.PID()
	if err := a.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Running() {
		t.Fatal("agent still running after Kill")
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if a.PID() == pid || a.Starts() != 2 {
		t.Fatalf("restart: pid %d (was %d), starts %d", a.PID(), pid, a.Starts())
	}
	if err := a.Start(ctx); err == nil {
		t.Fatal("starting a running agent succeeded")
	}
	if err := a.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitServing(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Status(ctx); err != nil {
		t.Fatalf("Status right after WaitServing: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		al, err := a.Allocation(ctx, onSecondary)
		if err == nil && al.Address == onSecondary.Addr {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart the agent does not hold %s for %s: %+v %v", onSecondary.Addr, onSecondary.Name, al, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got, err := SourceSeen(ctx, onSecondary.NetNS, to); err != nil || got != onSecondary.Addr {
		t.Fatalf("after restart, pod %s -> remote pod: %v (%v)", onSecondary.Name, got, err)
	}

	// Remove: DEL, then the sandbox goes.
	if _, err := a.Remove(ctx, pods[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Allocation(ctx, pods[0]); rpc.CodeOf(errors.Unwrap(err)) != rpc.CodeNotFound && rpc.CodeOf(err) != rpc.CodeNotFound {
		t.Fatalf("after Remove the agent still answers for %s: %v", pods[0].Name, err)
	}
	if _, err := os.Stat(pods[0].NetNS); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("sandbox of a removed pod: %v, want gone", err)
	}

	name := c.VPC().Name()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if a.Running() || b.Running() {
		t.Fatal("an agent survived Close")
	}
	if left, err := sim.Namespaces(name); err != nil || len(left) > 0 {
		t.Fatalf("namespaces left after Close: %v %v", left, err)
	}
	if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state directory %s after Close: %v", c.Dir(), err)
	}
}

// TestWaitReadyReportsAnAgentThatExits: a setting the agent rejects ends it
// at once, and WaitReady says so with the agent's own words instead of
// waiting out its context.
func TestWaitReadyReportsAnAgentThatExits(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := c.AddNode(ctx, NodeSpec{Name: "bad", InstanceType: "t3.medium", Env: map[string]string{"EKSNET_MODE": "bogus"}})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Start(ctx)
	started := err == nil
	if started {
		err = n.WaitReady(ctx)
	}
	if err == nil || !strings.Contains(err.Error(), "EKSNET_MODE") {
		t.Fatalf("agent with EKSNET_MODE=bogus: %v, want an error naming EKSNET_MODE", err)
	}
	if ctx.Err() != nil {
		t.Fatal("WaitReady waited out its context instead of noticing the exit")
	}
	want := "exited before serving"
	if !started {
		want = "never started"
	}
	if err := n.WaitServing(ctx); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("WaitServing on an agent that did not come up: %v, want it to say %q", err, want)
	}
	if ctx.Err() != nil {
		t.Fatal("WaitServing waited out its context instead of noticing the exit")
	}
}

// An AL2023 node's user data points the agent at nodeadm's marker and at
// /etc/systemd/network. On the simulation's shared filesystem those are
// the host's: the node gets its own, the simulation writes the marker as
// nodeadm would, and the agent attaches ENIs with its networkd files in the
// node's directory, never the host's.
func TestAL2023NodePathsStayInTheNode(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n, err := c.StartNode(ctx, NodeSpec{Name: "al2023", InstanceType: "t3.medium", Env: map[string]string{
		"EKSNET_ATTACH_AFTER": "/run/nodeadm/init", "EKSNET_NETWORKD_DIR": "/etc/systemd/network"}})
	if err != nil {
		t.Fatal(err)
	}
	env := n.Env()
	for _, k := range []string{"EKSNET_ATTACH_AFTER", "EKSNET_NETWORKD_DIR"} {
		if !strings.HasPrefix(env[k], n.Dir()+"/") {
			t.Errorf("%s = %q, want a path in the node's directory %s", k, env[k], n.Dir())
		}
	}
	if _, err := os.Stat(env["EKSNET_ATTACH_AFTER"]); err != nil {
		t.Fatalf("the nodeadm marker the agent waits for: %v", err)
	}
	// Past the marker the agent may attach ENIs: its status says it waits
	// for nothing.
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.AttachWaitingFor != "" {
		t.Fatalf("agent status: attach waiting for %s, want the marker seen", st.AttachWaitingFor)
	}
	if _, err := os.Stat("/etc/systemd/network/10-eksnet-" + st.ENIs[0].ID + ".network"); err == nil {
		t.Fatal("the agent wrote a networkd file into the host's /etc/systemd/network")
	}
}
