package simrun

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/eksnet/eksnet/sim/kube"
	"github.com/eksnet/eksnet/sim/simcluster"
)

// KubeOptions turn on the Kubernetes layer: a real control plane, and on
// every node containerd, kubelet (configured from the node group's user
// data) and kube-proxy, all from upstream releases (package kube). Pods are
// then created through the Kubernetes API and judged by what Kubernetes
// reports, not wired by the run itself.
type KubeOptions struct {
	Bins              kube.Binaries
	PauseBin, EchoBin string
	// WaitTimeout bounds each wait for Kubernetes (node Ready, pods
	// Running); default 3 minutes.
	WaitTimeout time.Duration
}

// KubeNodeReport is what Kubernetes showed of one node.
type KubeNodeReport struct {
	// NotReadyBeforeAgent is the Ready condition's message kubelet posted
	// before the agent installed its conflist ("" if it never was seen).
	NotReadyBeforeAgent string `json:"notReadyBeforeAgent"`
	// BootToReadySeconds runs from containerd's start to the node Ready.
	BootToReadySeconds float64 `json:"bootToReadySeconds"`
	// MaxPods is kubelet's pod capacity as the node reports it.
	MaxPods int `json:"maxPods"`
	// HostNetworkPods are the host-network pods Running on the node.
	HostNetworkPods []string `json:"hostNetworkPods"`
	// Expected is MaxPods minus the host-network pods: the pod-network
	// pods the node must run when the cluster is full.
	Expected int `json:"expected"`
	// Running is how many fill pods were Running on the node.
	Running int `json:"running"`
	// NotRunning describes fill pods bound to the node but not Running.
	NotRunning []string `json:"notRunning,omitempty"`
}

const simNamespace = "eksnet-sim"

// kubeRun is the run with the Kubernetes layer: boot every node as a real
// node boots, then run the experiments through the API.
func (r *run) kubeRun(ctx context.Context, spec Spec) {
	ko := r.opts.Kubernetes
	if ko.WaitTimeout <= 0 {
		ko.WaitTimeout = 3 * time.Minute
	}
	svc := spec.ServiceCIDR
	if !svc.IsValid() {
		svc = netip.MustParsePrefix("172.20.0.0/16")
	}
	r.progress("starting the control plane (etcd %s, kube-apiserver, kube-controller-manager, kube-scheduler %s)", kube.EtcdVersion, kube.KubernetesVersion)
	kc, err := kube.StartCluster(ctx, kube.ClusterConfig{Sim: r.c, Bins: ko.Bins, PauseBin: ko.PauseBin, EchoBin: ko.EchoBin,
		ServiceCIDR: svc, Logger: r.opts.Logger})
	if err != nil {
		r.rep.add(Check{Name: "control plane", OK: false, Detail: err.Error()})
		return
	}
	r.kube = kc
	r.c.OnClose(kc.Close)
	r.rep.Kubeconfig = kc.ControlPlane().AdminKubeconfig()
	if r.api, err = kc.Client(); err != nil {
		r.rep.add(Check{Name: "control plane", OK: false, Detail: err.Error()})
		return
	}
	r.progress("control plane ready at %s; kubeconfig %s", kc.ControlPlane().LocalEndpoint(), r.rep.Kubeconfig)
	groupOf := map[string]NodeGroup{}
	for _, g := range spec.NodeGroups {
		groupOf[g.Name] = g
	}
	r.eachNode(ctx, func(ctx context.Context, n *nodeRun) { r.kubeBoot(ctx, n, groupOf[n.plan.Group], ko.WaitTimeout) })
	r.checkNodesReady()
	if ctx.Err() != nil {
		return
	}
	ready := r.readyNodes()
	if len(ready) == 0 {
		return
	}
	r.checkHostPort(ctx, ready[0], ko.WaitTimeout)
	r.checkLimitRanges(ctx, spec.LimitRanges, ko.WaitTimeout)
	r.kubeFill(ctx, ready, ko.WaitTimeout)
	r.kubeTraffic(ctx, ready)
	r.checkServices(ctx, ready, ko.WaitTimeout)
	r.checkOneMore(ctx, ko.WaitTimeout)
	r.checkScaleToZero(ctx, ready, ko.WaitTimeout)
	r.checkAgentKillRollout(ctx, ready, ko.WaitTimeout)
	r.referenceLatency(ctx, ready, ko.Bins.CNIDir, ko.WaitTimeout)
}

// kubeBoot boots one node in the order a real node boots: containerd and
// kubelet up (the node registers NotReady: no CNI config yet), then the
// agent's unit (install, run), which installs the conflist once its pool
// is warm, and the node turns Ready. The agent is held until kubelet has
// registered, so the NotReady phase is observed instead of raced.
func (r *run) kubeBoot(ctx context.Context, n *nodeRun, g NodeGroup, timeout time.Duration) {
	n.kube = &KubeNodeReport{}
	settings := kube.NodeSettings{Config: map[string]any{"maxPods": g.MaxPods}}
	if g.UserData != "" {
		var err error
		if settings, err = kube.ReadUserData(g.OS, g.UserData); err != nil {
			n.rep.Error = fmt.Sprintf("reading the kubelet settings from user data: %v", err)
			return
		}
	}
	start := time.Now()
	ns, err := r.kube.Join(ctx, n.node, settings)
	if err != nil {
		n.rep.Error = err.Error()
		r.progress("node %s: %v", n.plan.Name, err)
		return
	}
	n.stack = ns
	node, err := r.waitNode(ctx, n.plan.Name, timeout, func(nd kube.Node) bool { return nd.Condition("Ready").Status != "" })
	if err != nil {
		n.rep.Error = err.Error()
		return
	}
	if c := node.Condition("Ready"); c.Status != "True" {
		n.kube.NotReadyBeforeAgent = c.Message
	}
	r.progress("node %s registered (%s); starting eksnet-agent as its unit does", n.plan.Name, firstLine(n.kube.NotReadyBeforeAgent))
	r.startAgent(ctx, n)
	if !n.ready {
		return
	}
	node, err = r.waitNode(ctx, n.plan.Name, timeout, func(nd kube.Node) bool { return nd.Condition("Ready").Status == "True" })
	if err != nil {
		n.rep.Error = "node never Ready after the agent installed its conflist: " + err.Error()
		n.ready = false
		return
	}
	n.kube.BootToReadySeconds = time.Since(start).Seconds()
	fmt.Sscan(node.Status.Capacity["pods"], &n.kube.MaxPods)
	// kube-proxy's static pod is a host-network pod like EKS's DaemonSet.
	if err := r.waitPods(ctx, "", "k8s-app=kube-proxy", timeout, func(pods []kube.Pod) bool {
		return slices.ContainsFunc(pods, func(p kube.Pod) bool { return p.Spec.NodeName == n.plan.Name && p.Running() })
	}); err != nil {
		n.rep.Error = "kube-proxy never Running: " + err.Error() + "; its log:\n" + ns.ContainerLog("kube-system", "kube-proxy-"+n.plan.Name, "kube-proxy", 10)
		n.ready = false
		return
	}
	r.progress("node %s Ready %.1fs after boot, max pods %d", n.plan.Name, n.kube.BootToReadySeconds, n.kube.MaxPods)
}

func firstLine(s string) string {
	if s == "" {
		return "Ready at once"
	}
	s, _, _ = strings.Cut(s, "\n")
	return "NotReady: " + s
}

func (r *run) readyNodes() []*nodeRun {
	var out []*nodeRun
	for _, n := range r.nodes {
		if n.ready {
			out = append(out, n)
		}
	}
	return out
}

// checkNodesReady: every node registered NotReady for want of a network,
// and turned Ready after the agent installed its conflist.
func (r *run) checkNodesReady() {
	var bad []string
	for _, n := range r.nodes {
		switch {
		case !n.ready:
			bad = append(bad, fmt.Sprintf("%s: %s", n.plan.Name, n.rep.Error))
		case !strings.Contains(n.kube.NotReadyBeforeAgent, "NetworkReady=false"):
			bad = append(bad, fmt.Sprintf("%s was Ready before the agent installed its conflist (condition %q)", n.plan.Name, n.kube.NotReadyBeforeAgent))
		}
	}
	c := Check{Name: "nodes NotReady until the agent's conflist, then Ready", OK: len(bad) == 0,
		Detail: fmt.Sprintf("%d of %d nodes", len(r.nodes)-len(bad), len(r.nodes))}
	if len(bad) > 0 {
		c.Detail += "; " + joinLines(bad)
	}
	r.rep.add(c)
}

func (r *run) waitNode(ctx context.Context, name string, timeout time.Duration, ok func(kube.Node) bool) (kube.Node, error) {
	deadline := time.Now().Add(timeout)
	for {
		nd, err := r.api.Node(ctx, name)
		if err == nil && ok(nd) {
			return nd, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("condition Ready %s: %s", nd.Condition("Ready").Status, nd.Condition("Ready").Message)
			}
			return nd, fmt.Errorf("node %s after %v: %w", name, timeout, err)
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return nd, err
		}
	}
}

func (r *run) waitPods(ctx context.Context, namespace, selector string, timeout time.Duration, ok func([]kube.Pod) bool) error {
	deadline := time.Now().Add(timeout)
	for {
		pods, err := r.api.Pods(ctx, namespace, selector)
		if err == nil && ok(pods) {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%d pods: %s", len(pods), r.podStates(ctx, pods))
			}
			return fmt.Errorf("pods %q after %v: %w", selector, timeout, err)
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// podStates summarises pods that are not Running, for error messages.
// podStates says, for at most 5 pods that are not Running, what holds each
// up: the scheduler's reason, the container's waiting reason and, when that
// carries no message (ContainerCreating never does), the pod's last Warning
// event, where kubelet puts the sandbox's CNI error.
func (r *run) podStates(ctx context.Context, pods []kube.Pod) string {
	var out []string
	notRunning := 0
	for _, p := range pods {
		if p.Running() {
			continue
		}
		if notRunning++; notRunning > 5 {
			continue
		}
		s := p.Metadata.Name + " " + p.Status.Phase
		if c := p.Condition("PodScheduled"); c.Status == "False" {
			s += " (" + c.Reason + ": " + c.Message + ")"
		}
		explained := false
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				s += " (" + w.Reason
				if w.Message != "" {
					s += ": " + w.Message
					explained = true
				}
				s += ")"
			}
		}
		if !explained && p.Spec.NodeName != "" {
			if reason, msg, err := r.api.LastWarning(ctx, p.Metadata.Namespace, p.Metadata.Name); err == nil && reason != "" {
				s += " (event " + reason + ": " + msg + ")"
			}
		}
		out = append(out, s)
	}
	if notRunning > 5 {
		out = append(out, fmt.Sprintf("and %d more", notRunning-5))
	}
	return strings.Join(out, "; ")
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// echoContainer is the echo image's container with the given ports.
func echoContainer(ports ...map[string]any) map[string]any {
	c := map[string]any{"name": "echo", "image": kube.EchoImage}
	if len(ports) > 0 {
		c["ports"] = ports
	}
	return c
}

// hostNetworkPods lists the host-network pods Running on node.
func (r *run) hostNetworkPods(ctx context.Context, node string) ([]string, error) {
	pods, err := r.api.Pods(ctx, "", "")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods {
		if p.Spec.NodeName == node && p.Spec.HostNetwork && p.Running() {
			out = append(out, p.Metadata.Namespace+"/"+p.Metadata.Name)
		}
	}
	return out, nil
}

// podAddrs are the addresses EC2 assigned to the node's ENIs for pods:
// secondary IPs and /28 prefixes, from the simulated EC2's own state.
func (r *run) podAddrs(n *nodeRun) (ips []netip.Addr, prefixes []netip.Prefix) {
	for _, inst := range r.c.VPC().Cloud().State().Instances {
		if inst.ID != n.node.Sim().InstanceID {
			continue
		}
		for _, e := range inst.ENIs {
			ips = append(ips, e.Secondary...)
			prefixes = append(prefixes, e.Prefixes...)
		}
	}
	return ips, prefixes
}

func onNode(ip netip.Addr, ips []netip.Addr, prefixes []netip.Prefix) bool {
	return slices.Contains(ips, ip) || slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// nodeOf returns the node run for a node name.
func (r *run) nodeOf(name string) *nodeRun {
	for _, n := range r.nodes {
		if n.plan.Name == name {
			return n
		}
	}
	return nil
}

// podNetNS finds a Running pod's network namespace on its node.
func (r *run) podNetNS(p kube.Pod) (string, error) {
	n := r.nodeOf(p.Spec.NodeName)
	if n == nil || n.stack == nil {
		return "", fmt.Errorf("pod %s on unknown node %q", p.Metadata.Name, p.Spec.NodeName)
	}
	ip, err := netip.ParseAddr(p.Status.PodIP)
	if err != nil {
		return "", fmt.Errorf("pod %s: ip %q: %w", p.Metadata.Name, p.Status.PodIP, err)
	}
	return n.stack.PodNetNS(ip)
}

// probeUntil retries a probe until it answers or timeout: kube-proxy and
// portmap program the node asynchronously.
func probeUntil(ctx context.Context, from string, to netip.AddrPort, timeout time.Duration) (netip.Addr, error) {
	deadline := time.Now().Add(timeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		got, err := simcluster.SourceSeen(pctx, from, to)
		cancel()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return got, err
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return got, err
		}
	}
}
