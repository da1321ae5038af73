package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/eksnet/eksnet/sim"
	"github.com/eksnet/eksnet/sim/simcluster"
	"github.com/vishvananda/netlink"
)

// benchmark runs everything and returns the figures; progress goes to
// progress, one line per phase.
func benchmark(ctx context.Context, o Options, log *slog.Logger, progress io.Writer) (*results, error) {
	work, err := os.MkdirTemp("", "eksnet-bench-")
	if err != nil {
		return nil, fmt.Errorf("creating the work directory: %w", err)
	}
	defer os.RemoveAll(work)
	step := func(format string, args ...any) { fmt.Fprintf(progress, "bench: "+format+"\n", args...) }

	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	root, ok := simcluster.SourceRoot(wd)
	if !ok {
		return nil, fmt.Errorf("run it from the eksnet source tree (%s has no go.mod of %s above it)", wd, simcluster.Module)
	}
	step("building eksnet-agent and eksnet-cni from %s", root)
	bins, err := simcluster.BuildBinaries(ctx, root, filepath.Join(work, "bin"))
	if err != nil {
		return nil, err
	}
	peerDir := o.PeerBinDir
	if o.Peer && peerDir == "" {
		peerDir = filepath.Join(work, "peer")
		step("installing ptp and host-local %s with go install", o.PeerVersion)
		if err := installPeer(ctx, peerDir, o.PeerVersion); err != nil {
			return nil, err
		}
	}

	// A /20 subnet: a /24 cannot hold 250 pods in /28 prefixes beside the
	// ENIs' own addresses (nor can a real one).
	vpc := sim.Config{Subnets: []sim.SubnetConfig{{AZ: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.16.0/20")}}, Region: "us-east-1"}
	c, err := simcluster.New(ctx, simcluster.Config{VPC: vpc, Binaries: bins, Logger: log, Dir: filepath.Join(work, "cluster")})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	res := &results{}

	node, err := c.AddNode(ctx, simcluster.NodeSpec{Name: "bench", InstanceType: o.InstanceType, Env: o.agentEnv()})
	if err != nil {
		return nil, err
	}
	start := simcluster.EC2CallsOf(c.VPC().Calls())
	step("starting the agent on a %s in prefix mode, warm pool of %d", o.InstanceType, o.Pods)
	if err := node.Start(ctx); err != nil {
		return nil, err
	}
	if err := node.WaitReady(ctx); err != nil {
		return nil, err
	}
	eksnet, err := eksnetPlugin(node)
	if err != nil {
		return nil, err
	}
	pods := make([]*simcluster.Pod, o.Pods)
	for i := range pods {
		if pods[i], err = node.NewPod(fmt.Sprintf("p%d", i)); err != nil {
			return nil, err
		}
	}

	plugins := []plugin{eksnet}
	if o.Peer {
		plugins = append(plugins, peerPlugin(peerDir, filepath.Join(work, "host-local")))
	}
	for _, par := range []int{1, o.Parallel} {
		for _, p := range plugins {
			if p.name == eksnet.name {
				if err := waitFree(ctx, node, o.Pods, 2*time.Minute); err != nil {
					return nil, err
				}
			}
			before := simcluster.EC2CallsOf(c.VPC().Calls())
			r, err := runOnce(ctx, node, p, pods, par, func() simcluster.EC2Calls { return simcluster.EC2CallsOf(c.VPC().Calls()) }, work)
			if err != nil {
				return nil, err
			}
			step("%-6s %d at a time: ADD p50 %.1f ms, DEL p50 %.1f ms", p.name, par, ms(simcluster.Summarize(r.adds).P50), ms(simcluster.Summarize(r.dels).P50))
			r.vethsGoneWall = r.delWall
			if p.name == eksnet.name {
				// eksnet's DEL leaves the veth pair to the agent, which deletes
				// it in the background (docs/cni.md). The pods' namespaces are
				// reused by the next run, where a runtime would make new ones,
				// so wait until the agent is done; the wait counts in
				// vethsGoneWall, not in the DEL latencies.
				waited, err := waitPodVethsGone(ctx, node, 2*time.Minute)
				if err != nil {
					return nil, err
				}
				r.vethsGoneWall += waited
				step("eksnet %d at a time: the agent deleted the last pod veth %.1f s after the last DEL", par, waited.Seconds())
			}
			if p.name == eksnet.name {
				r.ec2DuringAdds = r.callsAfterAdds.Since(before).Total
				if par > 1 {
					res.agentRSSFullKiB = r.agentRSSKiB
				}
			}
			res.runs = append(res.runs, r)
		}
	}
	if res.agentRSSEndKiB, err = rssKiB(node.PID()); err != nil {
		return nil, err
	}
	res.ec2 = simcluster.EC2CallsOf(c.VPC().Calls()).Since(start)
	if err := node.Stop(ctx); err != nil {
		return nil, err
	}

	if o.Fill {
		step("filling a t3.medium in prefix mode to its 110 pods")
		if res.fill, err = fill(ctx, c); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// run is one plugin's ADD of every pod then DEL of every pod, par at a time.
type run struct {
	plugin   string
	parallel int
	// adds and dels are per pod, in pod order (the order ADDs started).
	adds, dels       []time.Duration
	addWall, delWall time.Duration
	// vethsGoneWall runs from the first DEL to the last pod veth deleted:
	// delWall for the peer, which deletes the veth inside DEL; for eksnet
	// delWall plus the wait for the agent's background deletion, so the two
	// compare like for like.
	vethsGoneWall time.Duration
	// pluginMaxRSSKiB is the plugin's peak RSS over one more ADD and DEL
	// with every pod of the run wired (see pluginPeakRSS).
	pluginMaxRSSKiB int64
	// eksnet only: the agent's RSS with every pod wired, its EC2 calls.
	agentRSSKiB    int64
	callsAfterAdds simcluster.EC2Calls
	ec2DuringAdds  int
}

func runOnce(ctx context.Context, node *simcluster.Node, p plugin, pods []*simcluster.Pod, par int, calls func() simcluster.EC2Calls, rssDir string) (run, error) {
	r := run{plugin: p.name, parallel: par, adds: make([]time.Duration, len(pods)), dels: make([]time.Duration, len(pods))}
	results := make([][]byte, len(pods))
	id := func(i int) string { return fmt.Sprintf("%s-%d-%s", p.name, par, pods[i].Name) }
	t0 := time.Now()
	err := forEach(ctx, len(pods), par, func(i int) error {
		c, err := p.exec(ctx, node.Sim(), "ADD", id(i), pods[i].NetNS, pods[i].Name, nil)
		if err != nil {
			return err
		}
		r.adds[i], results[i] = c.took, c.out
		return nil
	})
	r.addWall = time.Since(t0)
	if err != nil {
		return r, err
	}
	seen := map[netip.Addr]string{}
	for i, out := range results {
		a, err := simcluster.ResultAddr(out)
		if err != nil {
			return r, fmt.Errorf("%s pod %s: %w", p.name, pods[i].Name, err)
		}
		if other, dup := seen[a]; dup {
			return r, fmt.Errorf("%s gave %s to both %s and %s", p.name, a, other, pods[i].Name)
		}
		seen[a] = pods[i].Name
	}
	if r.pluginMaxRSSKiB, err = pluginPeakRSS(ctx, node, p, fmt.Sprintf("rss-%s-%d", p.name, par), rssDir); err != nil {
		return r, err
	}
	if p.name == "eksnet" {
		r.callsAfterAdds = calls()
		if r.agentRSSKiB, err = rssKiB(node.PID()); err != nil {
			return r, err
		}
	}
	t0 = time.Now()
	err = forEach(ctx, len(pods), par, func(i int) error {
		c, err := p.exec(ctx, node.Sim(), "DEL", id(i), pods[i].NetNS, pods[i].Name, results[i])
		if err != nil {
			return err
		}
		r.dels[i] = c.took
		return nil
	})
	r.delWall = time.Since(t0)
	return r, err
}

// forEach calls fn(0..n-1), par at a time, in index order of start; the
// first error stops new calls and is returned.
func forEach(ctx context.Context, n, par int, fn func(int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	errc := make(chan error, par)
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return ctx.Err()
	}
}

// eksnetPlugin is the installed eksnet-cni with the conflist's entry.
func eksnetPlugin(n *simcluster.Node) (plugin, error) {
	b, err := os.ReadFile(n.ConflistPath())
	if err != nil {
		return plugin{}, fmt.Errorf("reading the conflist the agent installed: %w", err)
	}
	var list struct {
		CNIVersion string           `json:"cniVersion"`
		Name       string           `json:"name"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(b, &list); err != nil || len(list.Plugins) == 0 {
		return plugin{}, fmt.Errorf("conflist %s: no plugin entry (%v)", n.ConflistPath(), err)
	}
	conf := list.Plugins[0]
	conf["cniVersion"], conf["name"] = list.CNIVersion, list.Name
	return plugin{name: "eksnet", bin: n.PluginPath(), binDir: filepath.Dir(n.PluginPath()), conf: conf}, nil
}

// installPeer installs ptp and host-local at version into dir from the
// module proxy, outside any module so our go.mod is untouched.
func installPeer(ctx context.Context, dir, version string) error {
	for _, pkg := range []string{"plugins/main/ptp", "plugins/ipam/host-local"} {
		cmd := exec.CommandContext(ctx, "go", "install", "github.com/containernetworking/plugins/"+pkg+"@"+version)
		cmd.Dir = os.TempDir()
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go install github.com/containernetworking/plugins/%s@%s: %w\n%s", pkg, version, err, out)
		}
	}
	return nil
}

// waitFree waits until the agent has n free addresses.
func waitFree(ctx context.Context, n *simcluster.Node, free int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := n.Status(ctx)
		if err == nil && st.Free >= free {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the warm pool on %s never reached %d free addresses in %v: %+v %v", n.Name(), free, timeout, st, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitPodVethsGone waits until the node has no eksnet pod veth ("eni"
// prefix) left and says how long that took.
func waitPodVethsGone(ctx context.Context, n *simcluster.Node, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		left := 0
		err := sim.RunIn(n.Sim().NetNSPath(), func() error {
			links, err := netlink.LinkList()
			for _, l := range links {
				if l.Type() == "veth" && strings.HasPrefix(l.Attrs().Name, "eni") {
					left++
				}
			}
			return err
		})
		if err == nil && left == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return 0, fmt.Errorf("%d pod veths still on %s %v after the last DEL (err %v)", left, n.Name(), timeout, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
