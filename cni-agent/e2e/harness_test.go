package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/sim/simcluster"
)

var bins simcluster.Binaries

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // every test skips
	}
	dir, err := os.MkdirTemp("", "eksnet-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	wd, _ := os.Getwd()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if bins, err = simcluster.BuildFromTree(ctx, wd, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// newCluster is a simulated VPC whose nodes run the binaries built above;
// on failure it logs the simulated EC2's ENIs and every agent's log tail.
func newCluster(t testing.TB) *simcluster.Cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := simcluster.New(ctx, simcluster.Config{Binaries: bins, Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("simcluster.New: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			var b strings.Builder
			for _, e := range c.VPC().Cloud().State().ENIs {
				fmt.Fprintf(&b, "%s %s device %d mac %s primary %s secondary %v prefixes %v\n",
					e.InstanceID, e.ID, e.DeviceIndex, e.MAC, e.PrimaryIP, e.Secondary, e.Prefixes)
			}
			t.Logf("simulated EC2 ENIs:\n%s", b.String())
			for _, n := range c.Nodes() {
				t.Logf("%s agent log (tail):\n%s", n.Name(), n.LogTail(40))
			}
		}
		if err := c.Close(); err != nil {
			t.Errorf("closing the cluster: %v", err)
		}
	})
	return c
}

// startNode adds a node (in subnet, "" = the first), starts its agent with
// env on top of the e2e defaults and waits for the conflist.
func startNode(t testing.TB, c *simcluster.Cluster, name, instanceType, subnet string, env map[string]string) *simcluster.Node {
	t.Helper()
	full := map[string]string{"EKSNET_CLUSTER": "e2e", "EKSNET_RECONCILE_INTERVAL": "5s"}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n, err := c.StartNode(ctx, simcluster.NodeSpec{Name: name, InstanceType: instanceType, Subnet: subnet, Env: full})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newPod(t testing.TB, n *simcluster.Node, name string) *simcluster.Pod {
	t.Helper()
	p, err := n.NewPod(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// addRetrying is ADD as kubelet does it (code 11 retried, "node full" not).
func addRetrying(t testing.TB, n *simcluster.Node, p *simcluster.Pod, timeout time.Duration) {
	t.Helper()
	if _, err := n.AddRetrying(context.Background(), p, timeout); err != nil {
		t.Fatalf("ADD %s on %s: %v", p.Name, n.Name(), err)
	}
}

// allocation asks the agent which ENI the pod's address is on.
func allocation(t testing.TB, n *simcluster.Node, p *simcluster.Pod) rpc.Allocation {
	t.Helper()
	a, err := n.Allocation(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func podVeths(t testing.TB, n *simcluster.Node) int {
	t.Helper()
	v, err := n.PodVeths()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// cniError is err's CNI error result, or nil.
func cniError(err error) *simcluster.CNIError {
	var ce *simcluster.CNIError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}

// listen serves the source-reporting probe in p and returns where to dial.
func listen(t testing.TB, p *simcluster.Pod) netip.AddrPort {
	t.Helper()
	ln, to, err := simcluster.ServePod(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return to
}

func expectSource(t testing.TB, what, from string, to netip.AddrPort, want netip.Addr) {
	t.Helper()
	got, err := simcluster.SourceSeen(context.Background(), from, to)
	if err != nil {
		// EKSNET_E2E_PAUSE=1 keeps the namespaces for `ip netns exec` inspection.
		if os.Getenv("EKSNET_E2E_PAUSE") != "" {
			t.Logf("%s failed: %v; pausing for inspection", what, err)
			time.Sleep(90 * time.Second)
		}
		t.Fatalf("%s: %v", what, err)
	}
	if got != want {
		t.Fatalf("%s: the other end saw %s, want %s", what, got, want)
	}
}
