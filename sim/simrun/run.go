package simrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/eksnet/eksnet/sim"
	"github.com/eksnet/eksnet/sim/fakeec2"
	"github.com/eksnet/eksnet/sim/kube"
	"github.com/eksnet/eksnet/sim/simcluster"
)

// Options tune a run; the zero value of each field is a sensible default.
type Options struct {
	// MaxNodes caps the simulated nodes of each node group (0 = desired size).
	MaxNodes int
	// PodsPerNode is how many pods each node gets (0 = max pods less the
	// group's host-network pods, NodeGroup.HostNetworkPods).
	PodsPerNode int
	// Keep leaves the cluster up: Run returns it and the caller closes it.
	Keep bool
	// Binaries are the agent and plugin to run.
	Binaries simcluster.Binaries
	// SimName names the simulation (default: random "es" + 6 hex digits).
	SimName string
	// Limits overrides the simulated EC2's instance limits (default: the
	// instance table), e.g. to prove a promise the EC2 cannot keep fails.
	Limits func(instanceType string) (fakeec2.Limits, error)
	// StallTimeout is how long one pod's ADD may keep answering "try again
	// later" before the node counts as unable to wire more (default 30 s).
	StallTimeout time.Duration
	// ReadyTimeout bounds each agent's start up to its conflist (default 90 s).
	ReadyTimeout time.Duration
	// Parallel is how many nodes fill at once (default 4).
	Parallel int
	// Progress receives one line per step as the run goes (nil = none).
	Progress io.Writer
	// Logger receives the simulation's logs (default: discard).
	Logger *slog.Logger
	// IMDSDelay and DescribeDelay are the simulated VPC's lagging read
	// paths (sim.Config); `eksnet sim run` sets sim.DefaultIMDSDelay and
	// sim.DefaultDescribeDelay unless told otherwise.
	IMDSDelay, DescribeDelay time.Duration
	// Kubernetes, when set, runs the Kubernetes layer (see KubeOptions):
	// nodes boot containerd, kubelet and kube-proxy, and pods are made
	// through the API instead of by exec'ing the plugin.
	Kubernetes *KubeOptions
}

func (o Options) withDefaults() Options {
	if o.StallTimeout <= 0 {
		o.StallTimeout = 30 * time.Second
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 90 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// run is one run's state.
type run struct {
	opts  Options
	start time.Time
	c     *simcluster.Cluster
	rep   *Report

	mu      sync.Mutex // guards progress output and the fields below
	nodes   []*nodeRun
	latency []time.Duration
	retries int

	// The Kubernetes layer, when on.
	kube         *kube.Cluster
	api          *kube.Client
	fillReplicas int
	podStart     []PodStartRow
}

// nodeRun is one node's part of the run.
type nodeRun struct {
	plan  NodePlan
	node  *simcluster.Node
	rep   NodeReport
	ready bool
	pods  []*simcluster.Pod
	// Kubernetes layer only.
	stack *kube.NodeStack
	kube  *KubeNodeReport
}

// Run builds the simulated cluster for spec, fills it with pods and checks
// it. The report says which checks failed; an error means the run could not
// be carried out (bad spec, the VPC could not be built, ctx ended). Unless
// opts.Keep, everything is torn down before Run returns; with Keep and no
// error, the cluster is returned and the caller must Close it.
func Run(ctx context.Context, spec Spec, opts Options) (_ *Report, _ *simcluster.Cluster, err error) {
	opts = opts.withDefaults()
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	groups, plans, err := Layout(spec, opts.MaxNodes, opts.PodsPerNode)
	if err != nil {
		return nil, nil, err
	}
	r := &run{opts: opts, start: time.Now(),
		rep: &Report{Stack: spec.Stack, VPCCIDR: spec.VPCCIDR.String(), Subnets: spec.Subnets, Groups: groups, OK: true}}
	var subnets []sim.SubnetConfig
	for _, sn := range spec.Subnets {
		subnets = append(subnets, sim.SubnetConfig{AZ: sn.AZ, CIDR: sn.CIDR})
	}
	r.progress("building the simulated VPC %s with %d subnets", spec.VPCCIDR, len(subnets))
	r.c, err = simcluster.New(ctx, simcluster.Config{Binaries: opts.Binaries, Logger: opts.Logger,
		VPC: sim.Config{Name: opts.SimName, Region: spec.Region, VPCCIDR: spec.VPCCIDR, Subnets: subnets, Limits: opts.Limits, Logger: opts.Logger,
			IMDSDelay: opts.IMDSDelay, DescribeDelay: opts.DescribeDelay}})
	if err != nil {
		return nil, nil, err
	}
	r.rep.SimName = r.c.VPC().Name()
	defer func() {
		if err == nil && opts.Keep {
			r.rep.Kept = true
			return
		}
		r.progress("tearing down simulation %s", r.rep.SimName)
		if cerr := r.c.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("tearing down simulation %s: %w", r.rep.SimName, cerr))
		}
	}()
	groupOf := map[string]NodeGroup{}
	for _, g := range spec.NodeGroups {
		groupOf[g.Name] = g
	}
	for _, p := range plans {
		g := groupOf[p.Group]
		n, err := r.c.AddNode(ctx, simcluster.NodeSpec{Name: p.Name, InstanceType: p.InstanceType, Subnet: p.SubnetCIDR, Env: g.AgentEnv})
		if err != nil {
			return nil, nil, fmt.Errorf("node group %s: %w", p.Group, err)
		}
		r.nodes = append(r.nodes, &nodeRun{plan: p, node: n, rep: NodeReport{NodePlan: p,
			InstanceID: n.Sim().InstanceID, PrimaryIP: n.Sim().PrimaryIP.String(), AgentEnvSource: g.AgentEnvSource,
			Promised: g.MaxPods - g.HostNetworkPods()}})
	}
	if opts.Kubernetes != nil {
		r.progress("%d nodes launched; booting each as a node image does (containerd, kubelet, then eksnet-agent; settings from %s)", len(r.nodes), envSources(spec))
		r.kubeRun(ctx, spec)
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("run interrupted: %w", err)
		}
		for _, n := range r.nodes {
			n.rep.Kube = n.kube
			r.rep.Nodes = append(r.rep.Nodes, n.rep)
		}
		r.rep.Kubernetes = &KubeReport{KubernetesVersion: kube.KubernetesVersion, ContainerdVersion: kube.ContainerdVersion,
			PodStart: r.podStart}
	} else {
		r.progress("%d nodes launched; starting eksnet-agent on each (settings from %s)", len(r.nodes), envSources(spec))
		r.eachNode(ctx, r.startAgent)
		r.eachNode(ctx, r.fill)
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("run interrupted: %w", err)
		}
		for _, n := range r.nodes {
			r.rep.Nodes = append(r.rep.Nodes, n.rep)
		}
		r.checkReady()
		r.checkWired()
		r.checkTraffic(ctx)
	}
	// One snapshot for the total and the per-node counts: the agents keep
	// growing their warm pools while the checks run, so two reads would not
	// add up.
	calls := r.c.VPC().Calls()
	from := simcluster.EC2CallsFrom(calls)
	for i, n := range r.nodes {
		r.rep.Nodes[i].EC2Calls = from[n.node.Sim().PrimaryIP]
	}
	r.rep.EC2Calls = simcluster.EC2CallsOf(calls)
	r.rep.AddLatency = latencyMS(simcluster.Summarize(r.latency))
	r.rep.AddRetries = r.retries
	r.rep.Seconds = time.Since(r.start).Seconds()
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("run interrupted: %w", err)
	}
	if opts.Keep {
		return r.rep, r.c, nil
	}
	return r.rep, nil, nil
}

func envSources(s Spec) string {
	seen := map[string]bool{}
	var out string
	for _, g := range s.NodeGroups {
		if !seen[g.AgentEnvSource] {
			if out != "" {
				out += ", "
			}
			out += g.AgentEnvSource
			seen[g.AgentEnvSource] = true
		}
	}
	return out
}

func (r *run) progress(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.opts.Progress, "[%5.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

// eachNode runs fn for every node, opts.Parallel at a time.
func (r *run) eachNode(ctx context.Context, fn func(context.Context, *nodeRun)) {
	sem := make(chan struct{}, r.opts.Parallel)
	var wg sync.WaitGroup
	for _, n := range r.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() == nil {
				fn(ctx, n)
			}
		}()
	}
	wg.Wait()
}

// startAgent starts the node's agent and waits for its conflist.
func (r *run) startAgent(ctx context.Context, n *nodeRun) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.opts.ReadyTimeout)
	defer cancel()
	err := n.node.Start(ctx)
	if err == nil {
		err = n.node.WaitReady(ctx)
	}
	n.rep.ReadySeconds = time.Since(start).Seconds()
	if err != nil {
		n.rep.Error = err.Error()
		r.progress("node %s: agent not ready: %v", n.plan.Name, err)
		return
	}
	n.ready = true
	r.progress("node %s (%s, %s, %s): agent ready, conflist installed in %.1fs", n.plan.Name, n.plan.InstanceType, n.plan.AZ, n.rep.PrimaryIP, n.rep.ReadySeconds)
}

// fill creates the node's pods one after the other through the plugin, as
// kubelet does for pods scheduled to it, until its target or the first pod
// that cannot be wired.
func (r *run) fill(ctx context.Context, n *nodeRun) {
	if !n.ready {
		return
	}
	step := max(1, n.plan.Target/4)
	for i := range n.plan.Target {
		p, err := n.node.NewPod(PodName(n.plan.Name, i))
		if err != nil {
			n.rep.Error = err.Error()
			break
		}
		res, err := n.node.AddRetrying(ctx, p, r.opts.StallTimeout)
		r.mu.Lock()
		r.retries += max(0, res.Tries-1)
		if err == nil {
			r.latency = append(r.latency, res.Took)
		}
		r.mu.Unlock()
		if err != nil {
			n.rep.Error = fmt.Sprintf("pod %d of %d (%s): %v", i+1, n.plan.Target, p.Name, err)
			if simcluster.Retriable(err) {
				n.rep.Error += fmt.Sprintf(" (still answering after %v)", r.opts.StallTimeout)
			}
			r.progress("node %s: pod %d of %d not wired: %v", n.plan.Name, i+1, n.plan.Target, err)
			break
		}
		n.pods = append(n.pods, p)
		n.rep.Wired = len(n.pods)
		if (i+1)%step == 0 && i+1 < n.plan.Target {
			r.progress("node %s: %d/%d pods wired", n.plan.Name, i+1, n.plan.Target)
		}
	}
	if st, err := n.node.Status(ctx); err == nil {
		n.rep.AgentCapacity, n.rep.ENIs = st.Capacity, len(st.ENIs)
	}
	r.progress("node %s: %d/%d pods wired on %d ENI(s)", n.plan.Name, n.rep.Wired, n.plan.Target, n.rep.ENIs)
}

func (r *run) checkReady() {
	var bad []string
	for _, n := range r.nodes {
		if !n.ready {
			bad = append(bad, fmt.Sprintf("%s: %s", n.plan.Name, n.rep.Error))
		}
	}
	c := Check{Name: "agents ready", OK: len(bad) == 0, Detail: fmt.Sprintf("%d of %d agents installed the conflist", len(r.nodes)-len(bad), len(r.nodes))}
	if len(bad) > 0 {
		c.Detail += "; " + joinLines(bad)
	}
	r.rep.add(c)
}

// checkWired fails a node group any of whose nodes wired fewer pods than
// asked, naming the group, its promise and what each short node achieved.
func (r *run) checkWired() {
	for _, g := range r.rep.Groups {
		var short []string
		nodes := 0
		for _, n := range r.nodes {
			if n.plan.Group != g.Name {
				continue
			}
			nodes++
			if n.rep.Wired < g.Target {
				s := fmt.Sprintf("node %s (%s) wired %d", n.plan.Name, n.plan.InstanceType, n.rep.Wired)
				if n.rep.Error != "" {
					s += ": " + n.rep.Error
				}
				short = append(short, s)
			}
		}
		c := Check{Name: "node group " + g.Name + " pods wired", OK: len(short) == 0}
		switch {
		case len(short) == 0:
			c.Detail = fmt.Sprintf("%d node(s) x %d pods wired; max pods %d promises %d pod addresses per node", nodes, g.Target, g.MaxPods, g.Promised)
		case g.Target == g.Promised:
			c.Detail = fmt.Sprintf("node group %s promises max pods %d (%d pod addresses per node) but %s", g.Name, g.MaxPods, g.Promised, joinLines(short))
		default:
			c.Detail = fmt.Sprintf("node group %s: %d pods per node asked (max pods %d promises %d) but %s", g.Name, g.Target, g.MaxPods, g.Promised, joinLines(short))
		}
		r.rep.add(c)
	}
}

func joinLines(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}

// probe is one connection whose source the other end reports.
type probe struct {
	what string
	from string // netns path
	to   netip.AddrPort
	want netip.Addr
	why  string
}

func (r *run) runProbes(ctx context.Context, probes []probe) (ok int, failed []string) {
	for _, p := range probes {
		got, err := simcluster.SourceSeen(ctx, p.from, p.to)
		switch {
		case err != nil:
			failed = append(failed, fmt.Sprintf("%s: %v", p.what, err))
		case got != p.want:
			failed = append(failed, fmt.Sprintf("%s: the other end saw %s, want %s (%s)", p.what, got, p.want, p.why))
		default:
			ok++
		}
	}
	return ok, failed
}
