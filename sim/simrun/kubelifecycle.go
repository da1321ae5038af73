package simrun

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/sim/kube"
	"github.com/eksnet/eksnet/sim/simcluster"
)

// The lifecycle checks run after the fill: the cluster scaled to zero, a
// rollout through an agent crash, and the same pods wired by the reference
// plugins for a latency baseline.

const (
	rolloutApp   = "rollout"
	referenceApp = "reference"
	// rolloutPods is the rollout's size, capped by what the nodes hold.
	rolloutPods = 50
	// agentRestartSec is the unit's RestartSec (bootstrap/userdata).
	agentRestartSec = 2 * time.Second
)

func deploymentPath(app string) string {
	return "/apis/apps/v1/namespaces/" + simNamespace + "/deployments/" + app
}

func (r *run) scale(ctx context.Context, app string, replicas int) error {
	return r.api.Patch(ctx, deploymentPath(app), map[string]any{"spec": map[string]any{"replicas": replicas}})
}

// removeDeployment scales app to 0, waits until its pods are gone (their
// sandboxes torn down), then deletes the Deployment.
func (r *run) removeDeployment(ctx context.Context, app string, timeout time.Duration) error {
	if err := r.scale(ctx, app, 0); err != nil {
		return err
	}
	if err := r.waitPods(ctx, simNamespace, "app="+app, timeout, func(p []kube.Pod) bool { return len(p) == 0 }); err != nil {
		return err
	}
	return r.api.Delete(ctx, deploymentPath(app))
}

// waitPool polls the node's agent until ok holds for its status, saying
// every progressEvery what it waits for.
func (r *run) waitPool(ctx context.Context, n *nodeRun, timeout time.Duration, what string, ok func(rpc.Status) bool) (rpc.Status, error) {
	return r.waitStatus(ctx, n.plan.Name, n.node.Status, timeout, what, ok)
}

// waitStatus is waitPool for the agent whose status is status.
func (r *run) waitStatus(ctx context.Context, node string, status func(context.Context) (rpc.Status, error), timeout time.Duration, what string, ok func(rpc.Status) bool) (rpc.Status, error) {
	deadline := time.Now().Add(timeout)
	lastSaid := time.Now()
	for {
		st, err := status(ctx)
		if err == nil && ok(st) {
			return st, nil
		}
		if now := time.Now(); now.Sub(lastSaid) >= progressEvery {
			lastSaid = now
			if err != nil {
				r.progress("%s: waiting for its agent to be %s (up to %s more): %v", node, what, deadline.Sub(now).Round(time.Second), err)
			} else {
				r.progress("%s: waiting for its agent to be %s (up to %s more): %d total, %d assigned, %d cooling down",
					node, what, deadline.Sub(now).Round(time.Second), st.Total, st.Assigned, st.Cooldown)
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return st, fmt.Errorf("%s: waiting %v for %s: %w", node, timeout, what, err)
			}
			return st, fmt.Errorf("%s: not %s after %v: %d total, %d assigned, %d cooling down", node, what, timeout, st.Total, st.Assigned, st.Cooldown)
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return st, err
		}
	}
}

// checkScaleToZero scales the fill to 0. On every node, once the cooldown
// has passed, no address may be assigned or cooling, the agent's pool must
// be exactly what EC2 holds for the node, no pod veth may be left, and every
// rule at the pod priorities must cover an address the node still holds.
func (r *run) checkScaleToZero(ctx context.Context, nodes []*nodeRun, timeout time.Duration) {
	c := Check{Name: "scale to 0: every address back in the pool after the cooldown, no leaked veth or rule"}
	defer func() { r.rep.add(c) }()
	if err := r.removeDeployment(ctx, fillApp, timeout); err != nil {
		c.Detail = err.Error()
		return
	}
	gone := time.Now()
	var bad, good []string
	for _, n := range nodes {
		// Each pod kubelet tears down takes time on a loaded machine:
		// 109 on one staging node were not all gone after 3 minutes.
		st, err := r.waitPool(ctx, n, deploymentTimeout(timeout, n.kube.Expected), "idle", func(s rpc.Status) bool { return s.Assigned == 0 && s.Cooldown == 0 })
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		idle := time.Since(gone)
		if leaks := r.leaks(ctx, n, st); len(leaks) > 0 {
			bad = append(bad, n.plan.Name+": "+strings.Join(leaks, "; "))
			continue
		}
		good = append(good, fmt.Sprintf("%s: %d addresses free %.0fs after the last pod went", n.plan.Name, st.Free, idle.Seconds()))
	}
	c.OK = len(bad) == 0
	c.Detail = strings.Join(append(bad, good...), "; ")
	if c.OK {
		c.Detail += "; no pod veth, every pod rule on a held address, the pool as EC2 has it"
	}
}

// leaks lists what an idle node must not have: pod veths (deleted in the
// background, so given a few seconds), rules at the pod priorities for an
// address the node no longer holds, and a pool that differs from EC2's
// record of the node's ENIs.
func (r *run) leaks(ctx context.Context, n *nodeRun, st rpc.Status) []string {
	var out []string
	veths, err := n.node.PodVeths()
	for deadline := time.Now().Add(10 * time.Second); err == nil && veths > 0 && time.Now().Before(deadline); {
		if sleep(ctx, 250*time.Millisecond) != nil {
			break
		}
		veths, err = n.node.PodVeths()
	}
	switch {
	case err != nil:
		out = append(out, err.Error())
	case veths > 0:
		out = append(out, fmt.Sprintf("%d pod veths left", veths))
	}
	ips, prefixes := r.podAddrs(n)
	rules, err := n.node.PodRules()
	if err != nil {
		out = append(out, err.Error())
	}
	for _, rule := range rules {
		held := slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Overlaps(rule.Prefix) && p.Bits() <= rule.Prefix.Bits() }) ||
			(rule.Prefix.IsSingleIP() && slices.Contains(ips, rule.Prefix.Addr()))
		if !held {
			out = append(out, "rule "+rule.String()+" for an address the node no longer holds")
		}
	}
	if ec2 := len(ips) + 16*len(prefixes); ec2 != st.Total {
		out = append(out, fmt.Sprintf("the agent's pool holds %d addresses, EC2 has %d on the node's ENIs", st.Total, ec2))
	}
	return out
}

// checkAgentKillRollout rolls out a Deployment over the nodes and SIGKILLs
// the first node's agent while pods on it wait for their network; the
// agent comes back after the unit's RestartSec. Every pod must end Running
// with an address no other pod has, on its node's ENIs, and each agent's
// allocations must be exactly its node's Running pods.
func (r *run) checkAgentKillRollout(ctx context.Context, nodes []*nodeRun, timeout time.Duration) {
	want := min(rolloutPods, r.fillReplicas)
	c := Check{Name: fmt.Sprintf("agent SIGKILLed during a rollout of %d pods: every pod Running, no duplicate IP", want)}
	defer func() { r.rep.add(c) }()
	if want == 0 {
		c.Skipped, c.Detail = true, "the fill placed no pod: nothing to roll out"
		return
	}
	victim := nodes[0]
	// Addresses of the fill are still cooling down: wait, so the rollout
	// has the whole capacity and measures the crash, not the cooldown.
	for _, n := range nodes {
		if _, err := r.waitPool(ctx, n, timeout, "idle", func(s rpc.Status) bool { return s.Cooldown == 0 }); err != nil {
			c.Detail = err.Error()
			return
		}
	}
	if err := r.createDeployment(ctx, rolloutApp, want); err != nil {
		c.Detail = err.Error()
		return
	}
	var killed string
	var killErr error
	pods, starts := r.watchDeployment(ctx, rolloutApp, want, deploymentTimeout(timeout, want), func(pods []kube.Pod) {
		if killed != "" || killErr != nil {
			return
		}
		waiting, running := 0, 0
		for _, p := range pods {
			if p.Spec.NodeName != victim.plan.Name {
				continue
			}
			if p.Running() {
				running++
			} else {
				waiting++
			}
		}
		// Kill while pods bound to the node wait for their network: ADDs in
		// flight or about to be. Waiting for some to be Running first missed
		// the rollout on a quiet machine: from a warm pool all 15 pods of a
		// t3.medium turned Running between two polls.
		if waiting == 0 {
			return
		}
		if killErr = victim.node.Kill(ctx); killErr != nil {
			return
		}
		killed = fmt.Sprintf("SIGKILL with %d pods on %s Running and %d waiting", running, victim.plan.Name, waiting)
		r.progress("rollout: %s; restarting the agent after %v as its unit does", killed, agentRestartSec)
		if sleep(ctx, agentRestartSec) == nil {
			killErr = victim.node.Start(ctx)
		}
	})
	r.podStart = append(r.podStart, PodStartRow{Phase: "rollout, agent SIGKILLed on " + victim.plan.Name + " mid-way", CNI: "eksnet",
		Latency: latencyMS(simcluster.Summarize(starts))})
	var bad []string
	switch {
	case killErr != nil:
		bad = append(bad, "killing or restarting the agent: "+killErr.Error())
	case killed == "":
		bad = append(bad, "the kill never landed: no poll saw a pod on "+victim.plan.Name+" waiting")
	}
	running := 0
	for _, p := range pods {
		if p.Running() {
			running++
		}
	}
	if running != want {
		bad = append(bad, fmt.Sprintf("%d of %d pods Running: %s", running, want, r.podStates(ctx, pods)))
	}
	bad = append(bad, r.addressAudit(ctx, nodes)...)
	c.OK = len(bad) == 0
	c.Detail = fmt.Sprintf("%s; %d of %d Running", killed, running, want)
	if len(bad) > 0 {
		c.Detail += "; " + strings.Join(bad, "; ")
	} else {
		c.Detail += ", addresses distinct and on their nodes' ENIs, every agent's allocations = its node's pods"
	}
	if err := r.removeDeployment(ctx, rolloutApp, timeout); err != nil {
		c.OK, c.Detail = false, c.Detail+"; removing the rollout: "+err.Error()
	}
}

// addressAudit checks every Running pod-network pod of the cluster: no two
// share an address, each address is on its node's ENIs, and each node's
// agent holds allocations for exactly the addresses of its Running pods.
func (r *run) addressAudit(ctx context.Context, nodes []*nodeRun) []string {
	all, err := r.api.Pods(ctx, "", "")
	if err != nil {
		return []string{err.Error()}
	}
	var bad []string
	owner := map[string]string{}
	byNode := map[string][]string{}
	for _, p := range all {
		if p.Spec.HostNetwork || !p.Running() || p.Status.PodIP == "" {
			continue
		}
		name := p.Metadata.Namespace + "/" + p.Metadata.Name
		if o, dup := owner[p.Status.PodIP]; dup {
			bad = append(bad, fmt.Sprintf("%s and %s both have %s", o, name, p.Status.PodIP))
		}
		owner[p.Status.PodIP] = name
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p.Status.PodIP)
	}
	for _, n := range nodes {
		ips, prefixes := r.podAddrs(n)
		for _, a := range byNode[n.plan.Name] {
			if ip, err := netip.ParseAddr(a); err != nil || !onNode(ip, ips, prefixes) {
				bad = append(bad, fmt.Sprintf("%s (%s) is not on %s's ENIs", owner[a], a, n.plan.Name))
			}
		}
		allocs, err := n.node.Client().List(ctx)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: listing allocations: %v", n.plan.Name, err))
			continue
		}
		var held []string
		for _, al := range allocs {
			held = append(held, al.Address.String())
		}
		slices.Sort(held)
		pods := slices.Sorted(slices.Values(byNode[n.plan.Name]))
		if !slices.Equal(held, pods) {
			bad = append(bad, fmt.Sprintf("%s: the agent holds %d allocations %v, the node runs %d pods %v", n.plan.Name, len(held), held, len(pods), pods))
		}
	}
	return bad
}

// referenceNetwork is the conflist of the reference plugins, ptp and
// host-local from containernetworking/plugins (the release the sim builds):
// the same pods wired the plainest way, for a latency baseline. The range
// is outside any VPC the presets plan; nothing routes to it, and nothing
// needs to: only start latency is measured.
func referenceNetwork(index int, dataDir string) ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"cniVersion": "1.0.0",
		"name":       "reference",
		"plugins": []any{map[string]any{
			"type":   "ptp",
			"ipMasq": false,
			"ipam": map[string]any{
				"type":    "host-local",
				"dataDir": dataDir,
				"ranges":  []any{[]any{map[string]any{"subnet": fmt.Sprintf("100.127.%d.0/24", index)}}},
				"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
			},
		}},
	}, "", "  ")
}

// referenceConflist sorts before the agent's, so the runtime takes it as
// the default network while it is there.
const referenceConflist = "00-reference.conflist"

// referenceLatency wires as many pods as the fill with ptp + host-local on
// the same nodes and records their start latency. It runs when no pod of
// the pod network is left: the runtime tears a pod down with the network
// that is the default at that time, so the two must not overlap.
func (r *run) referenceLatency(ctx context.Context, nodes []*nodeRun, cniDir string, timeout time.Duration) {
	c := Check{Name: "reference plugins (ptp + host-local) wire the same pods"}
	defer func() { r.rep.add(c) }()
	var undo []string
	defer func() {
		for _, p := range undo {
			_ = os.RemoveAll(p)
		}
	}()
	for i, n := range nodes {
		binDir, confDir := filepath.Dir(n.node.PluginPath()), filepath.Dir(n.node.ConflistPath())
		for _, plugin := range []string{"ptp", "host-local"} {
			b, err := os.ReadFile(filepath.Join(cniDir, plugin))
			if err == nil {
				err = os.WriteFile(filepath.Join(binDir, plugin), b, 0o755)
			}
			if err != nil {
				c.Detail = fmt.Sprintf("installing %s on %s: %v", plugin, n.plan.Name, err)
				return
			}
			undo = append(undo, filepath.Join(binDir, plugin))
		}
		data := filepath.Join(n.node.Dir(), "reference-ipam")
		conf, err := referenceNetwork(i, data)
		if err == nil {
			err = os.WriteFile(filepath.Join(confDir, referenceConflist), conf, 0o644)
		}
		if err != nil {
			c.Detail = fmt.Sprintf("writing the reference conflist on %s: %v", n.plan.Name, err)
			return
		}
		undo = append(undo, data, filepath.Join(confDir, referenceConflist))
	}
	want := r.fillReplicas
	if err := r.createDeployment(ctx, referenceApp, want); err != nil {
		c.Detail = err.Error()
		return
	}
	pods, starts := r.watchDeployment(ctx, referenceApp, want, deploymentTimeout(timeout, want), nil)
	r.podStart = append(r.podStart, PodStartRow{Phase: "the fill's pod count, same nodes", CNI: "ptp + host-local " + kube.CNIPluginsVersion,
		Latency: latencyMS(simcluster.Summarize(starts))})
	running, foreign := 0, 0
	for _, p := range pods {
		if p.Running() {
			running++
			if !strings.HasPrefix(p.Status.PodIP, "100.127.") {
				foreign++
			}
		}
	}
	c.OK = running == want && foreign == 0
	c.Detail = fmt.Sprintf("%d of %d Running", running, want)
	if foreign > 0 {
		c.Detail += fmt.Sprintf("; %d not from the reference range (the runtime kept another network)", foreign)
	}
	if running != want {
		c.Detail += ": " + r.podStates(ctx, pods)
	}
	if err := r.removeDeployment(ctx, referenceApp, timeout); err != nil {
		c.OK, c.Detail = false, c.Detail+"; removing them: "+err.Error()
	}
}
