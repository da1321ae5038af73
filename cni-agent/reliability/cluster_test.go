package reliability

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/sim"
	"github.com/eksnet/eksnet/sim/simcluster"
)

// newCluster is a simulated VPC with one /20 subnet (room for 200 pods in
// prefix mode) running this checkout's agent and plugin.
func newCluster(t *testing.T) *simcluster.Cluster {
	t.Helper()
	return newClusterVPC(t, sim.Config{Subnets: []sim.SubnetConfig{{AZ: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.16.0/20")}}})
}

// newClusterVPC is newCluster with the simulated VPC laid out by vpc.
func newClusterVPC(t *testing.T, vpc sim.Config) *simcluster.Cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := simcluster.New(ctx, simcluster.Config{
		VPC:      vpc,
		Binaries: bins, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Nodes() {
				t.Logf("agent log of %s (tail):\n%s", n.Name(), n.LogTail(60))
			}
		}
		// Races first: the agents stopped, their logs read before Close
		// removes them.
		for _, n := range c.Nodes() {
			if n.Running() {
				if err := n.Stop(context.Background()); err != nil {
					t.Errorf("stopping the agent on %s: %v", n.Name(), err)
				}
			}
			b, err := os.ReadFile(n.LogPath())
			if err != nil {
				t.Errorf("reading the agent log of %s: %v", n.Name(), err)
				continue
			}
			for _, r := range simcluster.RaceReports(string(b)) {
				t.Errorf("the race-built agent on %s reported:\n%s", n.Name(), r)
			}
		}
		if err := c.Close(); err != nil {
			t.Errorf("closing the cluster: %v", err)
		}
	})
	return c
}

// addNode adds a node without starting its agent.
func addNode(t *testing.T, c *simcluster.Cluster, name, instanceType string, env map[string]string) *simcluster.Node {
	t.Helper()
	n, err := c.AddNode(context.Background(), simcluster.NodeSpec{Name: name, InstanceType: instanceType, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// start starts n's agent and waits for the conflist, within timeout.
func start(t *testing.T, n *simcluster.Node, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	// After a restart the conflist is already there; wait for the agent
	// itself to answer and be ready.
	for {
		st, err := n.Status(ctx)
		if err == nil && st.Ready {
			return
		}
		if !n.Running() {
			t.Fatalf("the agent on %s exited; log tail:\n%s", n.Name(), n.LogTail(20))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the agent on %s is not ready after %v: %+v %v", n.Name(), timeout, st, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// newPods creates count pod sandboxes named prefix0, prefix1, ...
func newPods(t *testing.T, n *simcluster.Node, prefix string, count int) []*simcluster.Pod {
	t.Helper()
	pods := make([]*simcluster.Pod, count)
	for i := range pods {
		p, err := n.NewPod(fmt.Sprintf("%s%d", prefix, i))
		if err != nil {
			t.Fatal(err)
		}
		pods[i] = p
	}
	return pods
}

// addLikeKubelet runs ADD for p until it succeeds or ctx ends, the way
// kubelet and the runtime do: a failed ADD is followed by a DEL of the
// sandbox's network (so a half-done ADD is torn down) and tried again.
// It returns the number of tries; observe, when not nil, sees each try.
func addLikeKubelet(ctx context.Context, n *simcluster.Node, p *simcluster.Pod, observe func(attempt)) (int, error) {
	for tries := 1; ; tries++ {
		began := time.Now()
		_, err := n.Add(ctx, p)
		if observe != nil {
			observe(attempt{Began: began, Ended: time.Now(), Err: err})
		}
		if err == nil {
			return tries, nil
		}
		if _, derr := n.Del(ctx, p); derr != nil && ctx.Err() == nil {
			// DEL must work with or without the agent; a failure here is
			// a bug, but the retry loop is the runtime's, so keep going.
			err = errors.Join(err, derr)
		}
		select {
		case <-ctx.Done():
			return tries, fmt.Errorf("pod %s never wired: %w (last: %w)", p.Name, ctx.Err(), err)
		case <-time.After(simcluster.RetryInterval):
		}
	}
}

// attempt is one ADD as the runtime saw it: when the plugin was started,
// when it exited, and its error.
type attempt struct {
	Began, Ended time.Time
	Err          error
}

// stormHooks let a test watch a storm; either may be nil.
type stormHooks struct {
	// OnAdded is called after each success with the count so far.
	OnAdded func(done int)
	// OnAttempt sees every ADD, failed or not, from any worker.
	OnAttempt func(attempt)
}

// storm adds every pod, par at a time, with addLikeKubelet, telling hooks
// (when not nil) what happens. It returns how many ADDs failed and were
// retried.
func storm(ctx context.Context, n *simcluster.Node, pods []*simcluster.Pod, par int, hooks *stormHooks) (retries int, err error) {
	if hooks == nil {
		hooks = &stormHooks{}
	}
	var (
		mu   sync.Mutex
		done int
		errs []error
		wg   sync.WaitGroup
	)
	next := make(chan *simcluster.Pod)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				tries, err := addLikeKubelet(ctx, n, p, hooks.OnAttempt)
				mu.Lock()
				retries += tries - 1
				if err != nil {
					errs = append(errs, err)
				} else {
					done++
				}
				d := done
				mu.Unlock()
				if err == nil && hooks.OnAdded != nil {
					hooks.OnAdded(d)
				}
			}
		}()
	}
	for _, p := range pods {
		next <- p
	}
	close(next)
	wg.Wait()
	return retries, errors.Join(errs...)
}

// checkAddresses compares what the pods got with what the agent holds:
// no address twice, every pod's address held by the agent for that pod's
// key, and no allocation the pods do not account for (a leak).
func checkAddresses(t *testing.T, n *simcluster.Node, pods []*simcluster.Pod) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	owner := map[netip.Addr]string{}
	byKey := map[rpc.Key]*simcluster.Pod{}
	for _, p := range pods {
		if !p.Addr.IsValid() {
			continue
		}
		if other, dup := owner[p.Addr]; dup {
			t.Errorf("duplicate address: %s held by pods %s and %s", p.Addr, other, p.Name)
		}
		owner[p.Addr] = p.Name
		byKey[rpc.Key{Network: "eksnet", ContainerID: p.ContainerID, IfName: "eth0"}] = p
	}
	list, err := n.Client().List(ctx)
	if err != nil {
		t.Fatalf("listing the agent's allocations: %v", err)
	}
	held := map[netip.Addr]bool{}
	for _, al := range list {
		if held[al.Address] {
			t.Errorf("the agent holds %s twice", al.Address)
		}
		held[al.Address] = true
		p, ok := byKey[al.Key]
		switch {
		case !ok:
			t.Errorf("leaked: the agent holds %s for %s, which no live pod has", al.Address, al.Key)
		case p.Addr != al.Address:
			t.Errorf("pod %s was given %s but the agent holds %s for it", p.Name, p.Addr, al.Address)
		}
	}
	for addr, name := range owner {
		if !held[addr] {
			t.Errorf("pod %s uses %s, which the agent considers free", name, addr)
		}
	}
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Assigned != len(owner) {
		t.Errorf("agent status: %d assigned, %d pods hold addresses", st.Assigned, len(owner))
	}
}

// checkReachable serves on every pod and connects to each from the first
// pod: the other end must see the client pod's own address (no NAT inside
// the VPC), which proves both pods' wiring.
func checkReachable(t *testing.T, pods []*simcluster.Pod) {
	t.Helper()
	from := pods[0]
	for _, p := range pods[1:] {
		ln, to, err := simcluster.ServePod(p)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		src, err := simcluster.SourceSeen(ctx, from.NetNS, to)
		cancel()
		ln.Close()
		if err != nil {
			t.Errorf("pod %s (%s) unreachable from %s: %v", p.Name, p.Addr, from.Name, err)
			continue
		}
		if src != from.Addr {
			t.Errorf("pod %s saw %s connect, want %s", p.Name, src, from.Addr)
		}
	}
}

// metrics scrapes the agent's Prometheus endpoint inside the node (its
// default 127.0.0.1:61678 on the node namespace's loopback) and returns
// every sample by its full name with labels.
func metrics(t *testing.T, n *simcluster.Node) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:61678/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := n.Sim().HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("scraping the agent's metrics on %s: %v", n.Name(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// sum adds the samples whose name starts with prefix.
func sum(m map[string]float64, prefix string) float64 {
	var s float64
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			s += v
		}
	}
	return s
}
