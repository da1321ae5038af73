package simrun

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/sim/kube"
	"github.com/eksnet/eksnet/sim/simcluster"
)

// LimitRange is an in-cluster LimitRange the stack creates.
type LimitRange struct {
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Spec      map[string]any `json:"spec"`
}

const fillApp = "fill"

func podPath(ns string) string { return "/api/v1/namespaces/" + ns + "/pods" }

// ensureNamespace creates namespace ns if it does not exist, and waits
// for its default service account: until the controller manager made it,
// the API server refuses pods there.
func (r *run) ensureNamespace(ctx context.Context, ns string) error {
	err := r.api.Create(ctx, "/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}})
	if se, ok := err.(*kube.StatusError); err != nil && !(ok && se.Code == 409) {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var sa map[string]any
		err := r.api.Get(ctx, "/api/v1/namespaces/"+ns+"/serviceaccounts/default", &sa)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s has no default service account after 60 s: %w", ns, err)
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// deletePodsAndWait deletes pods matching selector in ns and waits until
// they are gone, so their slots and addresses are free again.
func (r *run) deletePodsAndWait(ctx context.Context, ns, selector string, timeout time.Duration) error {
	pods, err := r.api.Pods(ctx, ns, selector)
	if err != nil {
		return err
	}
	for _, p := range pods {
		if err := r.api.Delete(ctx, podPath(ns)+"/"+p.Metadata.Name+"?gracePeriodSeconds=0"); err != nil {
			return err
		}
	}
	return r.waitPods(ctx, ns, selector, timeout, func(p []kube.Pod) bool { return len(p) == 0 })
}

// checkHostPort runs a pod with a hostPort on the first node and reaches
// it on the node's address from the VPC router: the portmap plugin that
// the agent's conflist chains must have mapped it.
func (r *run) checkHostPort(ctx context.Context, n *nodeRun, timeout time.Duration) {
	c := Check{Name: "hostPort reachable on the node IP (portmap)"}
	defer func() { r.rep.add(c) }()
	const hostPort = 30007
	if err := r.ensureNamespace(ctx, simNamespace); err != nil {
		c.Detail = err.Error()
		return
	}
	pod := map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "hostport", "labels": map[string]any{"app": "hostport"}},
		"spec": map[string]any{"nodeName": n.plan.Name, "containers": []any{echoContainer(
			map[string]any{"containerPort": 7, "hostPort": hostPort, "protocol": "TCP"})}}}
	if err := r.api.Create(ctx, podPath(simNamespace), pod); err != nil {
		c.Detail = err.Error()
		return
	}
	if err := r.waitPods(ctx, simNamespace, "app=hostport", timeout, func(p []kube.Pod) bool { return len(p) == 1 && p[0].Running() }); err != nil {
		c.Detail = err.Error()
		return
	}
	to := netip.AddrPortFrom(n.node.Sim().PrimaryIP, hostPort)
	got, err := probeUntil(ctx, r.c.VPC().RouterNetNSPath(), to, 30*time.Second)
	if err != nil {
		c.Detail = fmt.Sprintf("router -> %s (hostPort of pod hostport on %s): %v", to, n.plan.Name, err)
		return
	}
	c.OK = true
	c.Detail = fmt.Sprintf("router -> %s reached the pod (it saw %s)", to, got)
	if err := r.deletePodsAndWait(ctx, simNamespace, "app=hostport", timeout); err != nil {
		c.OK, c.Detail = false, c.Detail+"; deleting it: "+err.Error()
	}
}

// checkLimitRanges applies the stack's LimitRanges as planned and creates
// a pod without requests or limits in each namespace: the API server's
// LimitRanger admission must have filled in the defaults.
func (r *run) checkLimitRanges(ctx context.Context, lrs []LimitRange, timeout time.Duration) {
	if len(lrs) == 0 {
		return
	}
	var bad, good []string
	for _, lr := range lrs {
		if err := r.limitRangeDefaults(ctx, lr, timeout); err != nil {
			bad = append(bad, fmt.Sprintf("%s/%s: %v", lr.Namespace, lr.Name, err))
		} else {
			good = append(good, lr.Namespace)
		}
	}
	c := Check{Name: "LimitRange defaults applied to a pod without requests", OK: len(bad) == 0,
		Detail: fmt.Sprintf("namespaces %s", strings.Join(good, ", "))}
	if len(bad) > 0 {
		c.Detail = joinLines(bad)
	}
	r.rep.add(c)
}

func (r *run) limitRangeDefaults(ctx context.Context, lr LimitRange, timeout time.Duration) error {
	if err := r.ensureNamespace(ctx, lr.Namespace); err != nil {
		return err
	}
	obj := map[string]any{"apiVersion": "v1", "kind": "LimitRange", "metadata": map[string]any{"name": lr.Name}, "spec": lr.Spec}
	if err := r.api.Create(ctx, "/api/v1/namespaces/"+lr.Namespace+"/limitranges", obj); err != nil {
		return fmt.Errorf("creating the LimitRange: %w", err)
	}
	// Admission reads LimitRanges from an informer: retry until it has it.
	want := wantDefaults(lr.Spec)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		name := fmt.Sprintf("limits-%d", i)
		pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": name, "labels": map[string]any{"app": "limits"}},
			"spec": map[string]any{"containers": []any{echoContainer()}}}
		if err := r.api.Create(ctx, podPath(lr.Namespace), pod); err != nil {
			return err
		}
		var p kube.Pod
		if err := r.api.Get(ctx, podPath(lr.Namespace)+"/"+name, &p); err != nil {
			return err
		}
		got := p.Spec.Containers[0].Resources
		miss := missing(want, got.Requests, got.Limits)
		if miss == "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pod %s has requests %v limits %v: %s", name, got.Requests, got.Limits, miss)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	return r.deletePodsAndWait(ctx, lr.Namespace, "app=limits", timeout)
}

// wantDefaults are the Container defaults of a LimitRange spec:
// "request cpu" -> "100m", "limit memory" -> "512Mi".
func wantDefaults(spec map[string]any) map[string]string {
	out := map[string]string{}
	limits, _ := spec["limits"].([]any)
	for _, l := range limits {
		m, _ := l.(map[string]any)
		if m["type"] != "Container" {
			continue
		}
		for field, kind := range map[string]string{"defaultRequest": "request", "default": "limit"} {
			vals, _ := m[field].(map[string]any)
			for k, v := range vals {
				out[kind+" "+k] = fmt.Sprint(v)
			}
		}
	}
	return out
}

func missing(want, requests, limits map[string]string) string {
	var out []string
	for k, v := range want {
		kind, res, _ := strings.Cut(k, " ")
		got := requests[res]
		if kind == "limit" {
			got = limits[res]
		}
		if got != v {
			out = append(out, fmt.Sprintf("%s %s is %q, want %q", kind, res, got, v))
		}
	}
	return strings.Join(out, ", ")
}

// createDeployment creates a Deployment app of echo pods labelled app=app
// in the run's namespace, killed at once on delete.
func (r *run) createDeployment(ctx context.Context, app string, replicas int) error {
	dep := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": app},
		"spec": map[string]any{"replicas": replicas,
			"selector": map[string]any{"matchLabels": map[string]any{"app": app}},
			"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": app}},
				"spec": map[string]any{"terminationGracePeriodSeconds": 0, "containers": []any{echoContainer()}}}}}
	return r.api.Create(ctx, "/apis/apps/v1/namespaces/"+simNamespace+"/deployments", dep)
}

// perPodStart is what a Deployment's deadline allows for each pod on top
// of the wait timeout. Pods start at about 0.45 a second on a loaded 2-core
// machine running three kubelets (sim run --preset staging: 327 pods), so
// this is room for that, not a target; a Deployment whose pods cannot start
// is caught sooner by watchDeployment's stuck rule.
const perPodStart = 3 * time.Second

// deploymentTimeout is how long a Deployment of pods may take to run.
func deploymentTimeout(timeout time.Duration, pods int) time.Duration {
	return timeout + time.Duration(pods)*perPodStart
}

// progressEvery is how often a long wait reports how far it got.
var progressEvery = 10 * time.Second

// stallWindow is how long a Deployment wait goes without a pod starting
// before it asks whether the Deployment is stuck.
var stallWindow = 45 * time.Second

// watchDeployment polls the pods of app every 250 ms until want of them are
// Running, timeout passes, or the Deployment is stuck (see stuck). tick, if
// set, sees each poll. It returns the last pods seen and each Running pod's
// start latency: first seen by the API to first seen Running (API
// timestamps have whole-second resolution, too coarse for this). Every
// progressEvery it says how many pods are Running, or why it cannot tell.
func (r *run) watchDeployment(ctx context.Context, app string, want int, timeout time.Duration, tick func([]kube.Pod)) ([]kube.Pod, []time.Duration) {
	seen, running := map[string]time.Time{}, map[string]time.Time{}
	lastStart := time.Now()
	deadline := time.Now().Add(timeout)
	lastSaid, lastAsked := time.Now(), time.Time{}
	var pods []kube.Pod
	for time.Now().Before(deadline) && ctx.Err() == nil {
		got, err := r.api.Pods(ctx, simNamespace, "app="+app)
		now := time.Now()
		say := now.Sub(lastSaid) >= progressEvery
		if say {
			lastSaid = now
		}
		if err != nil {
			if say {
				r.progress("Deployment %s/%s: listing its pods failed (waiting up to %s more): %v",
					simNamespace, app, deadline.Sub(now).Round(time.Second), err)
			}
		} else {
			pods = got
			if say {
				// A long wait says what it waits for.
				r.progress("Deployment %s/%s: %d of %d pods Running, %d created (waiting up to %s more)",
					simNamespace, app, len(running), want, len(pods), deadline.Sub(now).Round(time.Second))
			}
			for _, p := range pods {
				if _, ok := seen[p.Metadata.UID]; !ok {
					seen[p.Metadata.UID] = now
				}
				if _, ok := running[p.Metadata.UID]; !ok && p.Running() {
					running[p.Metadata.UID] = now
					lastStart = now
				}
			}
			if tick != nil {
				tick(pods)
			}
			if len(running) >= want {
				break
			}
			if len(pods) >= want && now.Sub(lastStart) > stallWindow && now.Sub(lastAsked) >= time.Second {
				lastAsked = now
				if why := r.stuck(ctx, pods, lastStart); why != "" {
					r.progress("Deployment %s/%s: stopped waiting at %d of %d pods Running: %s", simNamespace, app, len(running), want, why)
					break
				}
			}
		}
		if sleep(ctx, 250*time.Millisecond) != nil {
			break
		}
	}
	var starts []time.Duration
	for uid, t := range running {
		starts = append(starts, t.Sub(seen[uid]))
	}
	return pods, starts
}

// stuck says why pods will not start, or "" while they may. Slowness is
// not stuck: 109 pods a node starting at once on a loaded machine can all
// take over a minute, and kubelet retries a failed sandbox on its own. A
// Deployment is stuck when no pod started since lastStart and kubelet has
// since reported a failed sandbox (FailedCreatePodSandBox: the CNI plugin
// or the runtime refused) for every pod still waiting, or the scheduler
// found no node for it: a full node, a broken plugin. Otherwise only the
// deadline ends the wait.
func (r *run) stuck(ctx context.Context, pods []kube.Pod, lastStart time.Time) string {
	failed, err := r.api.SandboxFailures(ctx, simNamespace)
	if err != nil {
		return ""
	}
	// Event times have whole-second resolution.
	since := lastStart.Truncate(time.Second)
	waiting := 0
	for _, p := range pods {
		if p.Running() || p.Metadata.DeletionTimestamp != nil {
			continue
		}
		waiting++
		if c := p.Condition("PodScheduled"); c.Status == "False" && c.Reason == "Unschedulable" {
			continue
		}
		if t, ok := failed[p.Metadata.Name]; !ok || t.Before(since) {
			return ""
		}
	}
	if waiting == 0 {
		return ""
	}
	return fmt.Sprintf("no pod started for %s, and each of the %d waiting pods is unschedulable or had its sandbox fail since", time.Since(lastStart).Round(time.Second), waiting)
}

// kubeFill scales a Deployment of echo pods to what the nodes promise:
// on every node max pods minus the host-network pods Running there.
func (r *run) kubeFill(ctx context.Context, nodes []*nodeRun, timeout time.Duration) {
	total := 0
	for _, n := range nodes {
		// The hostPort and LimitRange pods' addresses cool down (30 s by
		// default) before the agent reuses them: start the fill once none
		// is cooling, so the check measures capacity, not cooldown timing.
		if _, err := r.waitPool(ctx, n, timeout, "free of cooling addresses", func(s rpc.Status) bool { return s.Cooldown == 0 }); err != nil {
			n.rep.Error = err.Error()
		}
		hn, err := r.hostNetworkPods(ctx, n.plan.Name)
		if err != nil {
			n.rep.Error = err.Error()
			continue
		}
		n.kube.HostNetworkPods = hn
		// Host-network DaemonSets the group declares but the simulation
		// does not run leave slots kubelet admits and no address backs:
		// the node promises no more than its agent serves.
		n.kube.Expected = min(n.kube.MaxPods-len(hn), n.rep.Promised)
		if r.opts.PodsPerNode > 0 {
			n.kube.Expected = min(n.kube.Expected, r.opts.PodsPerNode)
		}
		total += n.kube.Expected
	}
	r.fillReplicas = total
	r.progress("filling the cluster: Deployment %s/%s with %d replicas (max pods minus host-network pods, per node)", simNamespace, fillApp, total)
	if err := r.createDeployment(ctx, fillApp, total); err != nil {
		r.rep.add(Check{Name: "fill the cluster", Detail: err.Error()})
		return
	}
	pods, starts := r.watchDeployment(ctx, fillApp, total, deploymentTimeout(timeout, total), nil)
	r.podStart = append(r.podStart, PodStartRow{Phase: "fill, from a cold pool (EC2 calls on the way)", CNI: "eksnet", Latency: latencyMS(simcluster.Summarize(starts))})
	r.checkFilled(ctx, nodes, pods)
}

// checkFilled compares, per node, the Running fill pods with what the node
// promises, and checks every pod address against EC2's record of the
// node's ENIs.
func (r *run) checkFilled(ctx context.Context, nodes []*nodeRun, pods []kube.Pod) {
	byNode := map[string][]kube.Pod{}
	var unscheduled []string
	for _, p := range pods {
		if p.Spec.NodeName == "" {
			unscheduled = append(unscheduled, p.Metadata.Name+": "+p.Condition("PodScheduled").Message)
			continue
		}
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
	}
	for _, n := range nodes {
		ips, prefixes := r.podAddrs(n)
		var foreign []string
		for _, p := range byNode[n.plan.Name] {
			if !p.Running() {
				n.kube.NotRunning = append(n.kube.NotRunning, r.podStates(ctx, []kube.Pod{p}))
				continue
			}
			n.kube.Running++
			if ip, err := netip.ParseAddr(p.Status.PodIP); err != nil || !onNode(ip, ips, prefixes) {
				foreign = append(foreign, p.Metadata.Name+" "+p.Status.PodIP)
			}
		}
		c := Check{Name: "node " + n.plan.Name + " runs max pods minus host-network pods",
			OK: n.kube.Running == n.kube.Expected && len(n.kube.NotRunning) == 0 && len(foreign) == 0}
		c.Detail = fmt.Sprintf("node %s (%s): %d pods Running, want %d (max pods %d - %d host-network: %s)",
			n.plan.Name, n.plan.InstanceType, n.kube.Running, n.kube.Expected, n.kube.MaxPods, len(n.kube.HostNetworkPods), strings.Join(n.kube.HostNetworkPods, ", "))
		if len(n.kube.NotRunning) > 0 {
			c.Detail += fmt.Sprintf("; %d not Running: %s", len(n.kube.NotRunning), strings.Join(n.kube.NotRunning, "; "))
		}
		if len(foreign) > 0 {
			c.Detail += "; addresses not on the node's ENIs: " + strings.Join(foreign, ", ")
		} else if n.kube.Running > 0 {
			c.Detail += "; every pod IP is on the node's ENIs"
		}
		r.rep.add(c)
	}
	if len(unscheduled) > 0 {
		r.rep.add(Check{Name: "every fill pod scheduled", Detail: strings.Join(unscheduled, "; ")})
	}
}

// runningFill lists the Running fill pods, in a stable order per node.
func (r *run) runningFill(ctx context.Context) (map[string][]kube.Pod, error) {
	pods, err := r.api.Pods(ctx, simNamespace, "app="+fillApp)
	if err != nil {
		return nil, err
	}
	out := map[string][]kube.Pod{}
	for _, p := range pods {
		if p.Running() {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
		}
	}
	return out, nil
}

// kubeTraffic: a pod on each node reaches a pod on the next node, which
// sees the pod's own address (no NAT), and reaches the internet echo,
// which sees the node's address (SNAT) unless the agent settings exclude it.
func (r *run) kubeTraffic(ctx context.Context, nodes []*nodeRun) {
	byNode, err := r.runningFill(ctx)
	if err != nil {
		r.rep.add(Check{Name: "pod traffic", Detail: err.Error()})
		return
	}
	var cross, inet []probe
	var skip string
	for i, n := range nodes {
		src := byNode[n.plan.Name]
		if len(src) == 0 {
			continue
		}
		from, err := r.podNetNS(src[0])
		if err != nil {
			r.rep.add(Check{Name: "pod traffic from " + n.plan.Name, Detail: err.Error()})
			continue
		}
		ip := netip.MustParseAddr(src[0].Status.PodIP)
		want, why := InternetSource(n.node.Env(), r.c.VPC().InternetEcho().Addr(), n.node.Sim().PrimaryIP, ip)
		inet = append(inet, probe{what: fmt.Sprintf("%s (%s on %s) -> internet %s", src[0].Metadata.Name, ip, n.plan.Name, r.c.VPC().InternetEcho()),
			from: from, to: r.c.VPC().InternetEcho(), want: want, why: why})
		if len(nodes) < 2 {
			skip = "one node: nothing to cross to"
			continue
		}
		peer := nodes[(i+1)%len(nodes)]
		dst := byNode[peer.plan.Name]
		if len(dst) == 0 || peer == n {
			continue
		}
		to := netip.AddrPortFrom(netip.MustParseAddr(dst[0].Status.PodIP), 7)
		cross = append(cross, probe{what: fmt.Sprintf("%s (%s on %s) -> %s (%s on %s)", src[0].Metadata.Name, ip, n.plan.Name, dst[0].Metadata.Name, to.Addr(), peer.plan.Name),
			from: from, to: to, want: ip, why: "pod to pod in the VPC is never NATed"})
	}
	r.addProbeCheck(ctx, "pod <-> pod across nodes without NAT", cross, skip)
	r.addProbeCheck(ctx, "pod -> internet SNATed to the node IP", inet, "")
}

// checkServices creates a ClusterIP and a NodePort Service over the fill
// pods and reaches them through kube-proxy's rules: the ClusterIP from a
// pod on the last node, the NodePort on the first node's address from the
// VPC router and from that pod.
func (r *run) checkServices(ctx context.Context, nodes []*nodeRun, timeout time.Duration) {
	byNode, err := r.runningFill(ctx)
	if err != nil {
		r.rep.add(Check{Name: "Services through kube-proxy", Detail: err.Error()})
		return
	}
	last := nodes[len(nodes)-1]
	var client kube.Pod
	if pods := byNode[last.plan.Name]; len(pods) > 0 {
		client = pods[len(pods)-1]
	}
	from, err := r.podNetNS(client)
	if err != nil {
		r.rep.add(Check{Name: "Services through kube-proxy", Detail: "no client pod: " + err.Error()})
		return
	}
	for _, svc := range []struct{ name, typ string }{{"fill-clusterip", "ClusterIP"}, {"fill-nodeport", "NodePort"}} {
		c := Check{Name: svc.typ + " Service reached through kube-proxy"}
		obj := map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": svc.name},
			"spec": map[string]any{"type": svc.typ, "selector": map[string]any{"app": fillApp},
				"ports": []any{map[string]any{"port": 7, "targetPort": 7, "protocol": "TCP"}}}}
		if err := r.api.Create(ctx, "/api/v1/namespaces/"+simNamespace+"/services", obj); err != nil {
			c.Detail = err.Error()
			r.rep.add(c)
			continue
		}
		var got struct {
			Spec struct {
				ClusterIP string `json:"clusterIP"`
				Ports     []struct {
					NodePort int `json:"nodePort"`
				} `json:"ports"`
			} `json:"spec"`
		}
		if err := r.api.Get(ctx, "/api/v1/namespaces/"+simNamespace+"/services/"+svc.name, &got); err != nil {
			c.Detail = err.Error()
			r.rep.add(c)
			continue
		}
		type target struct {
			what string
			from string
			to   netip.AddrPort
		}
		var targets []target
		if svc.typ == "ClusterIP" {
			targets = append(targets, target{"pod " + client.Metadata.Name + " on " + last.plan.Name, from,
				netip.AddrPortFrom(netip.MustParseAddr(got.Spec.ClusterIP), 7)})
		} else {
			to := netip.AddrPortFrom(nodes[0].node.Sim().PrimaryIP, uint16(got.Spec.Ports[0].NodePort))
			targets = append(targets, target{"the VPC router", r.c.VPC().RouterNetNSPath(), to},
				target{"pod " + client.Metadata.Name + " on " + last.plan.Name, from, to})
		}
		var ok, bad []string
		for _, t := range targets {
			seen, err := probeUntil(ctx, t.from, t.to, 30*time.Second)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s -> %s: %v", t.what, t.to, err))
				continue
			}
			ok = append(ok, fmt.Sprintf("%s -> %s (a backend saw %s)", t.what, t.to, seen))
		}
		c.OK = len(bad) == 0 && len(ok) > 0
		c.Detail = strings.Join(append(bad, ok...), "; ")
		r.rep.add(c)
	}
}

// checkOneMore scales the fill one replica past what the nodes promise:
// the scheduler must keep it Pending with "Too many pods", and no pod may
// be stuck in ContainerCreating (kubelet admitting a pod the node cannot
// wire).
func (r *run) checkOneMore(ctx context.Context, timeout time.Duration) {
	c := Check{Name: "one replica more stays Pending: Too many pods"}
	defer func() { r.rep.add(c) }()
	if r.opts.PodsPerNode > 0 {
		c.Skipped, c.Detail = true, "--pods-per-node caps the fill below what the nodes hold"
		return
	}
	want := r.fillReplicas + 1
	if err := r.scale(ctx, fillApp, want); err != nil {
		c.Detail = err.Error()
		return
	}
	var pods []kube.Pod
	err := r.waitPods(ctx, simNamespace, "app="+fillApp, timeout, func(p []kube.Pod) bool {
		pods = p
		for _, x := range p {
			if s := x.Condition("PodScheduled"); s.Status == "False" && strings.Contains(s.Message, "Too many pods") {
				return true
			}
		}
		return false
	})
	var creating []string
	for _, p := range pods {
		if p.Spec.NodeName != "" && !p.Running() {
			creating = append(creating, r.podStates(ctx, []kube.Pod{p}))
		}
	}
	switch {
	case err != nil:
		c.Detail = fmt.Sprintf("%d replicas asked, no pod Pending with Too many pods: %v", want, err)
	case len(creating) > 0:
		c.Detail = "a pod was bound but is not Running: " + strings.Join(creating, "; ")
	default:
		c.OK = true
		c.Detail = fmt.Sprintf("%d replicas asked; replica %d Pending: %s", want, want, pendingMessage(pods))
	}
}

func pendingMessage(pods []kube.Pod) string {
	for _, p := range pods {
		if s := p.Condition("PodScheduled"); s.Status == "False" {
			return s.Message
		}
	}
	return ""
}
