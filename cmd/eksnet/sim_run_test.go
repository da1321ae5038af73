package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/infra/plan"
	"github.com/eksnet/eksnet/sim"
	"github.com/eksnet/eksnet/sim/kube"
	"github.com/eksnet/eksnet/sim/simrun"
	"github.com/eksnet/eksnet/stacks"
)

// runSimRunCmd runs the `sim run` command on its own (not through the root)
// and returns stdout, stderr and the error.
func runSimRunCmd(t *testing.T, timeout time.Duration, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, getenv: os.Getenv}
	cmd := newSimRunCmd(a)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// TestSimRunDevPreset is the CI run of the whole chain: the dev preset
// planned under the mock engine, its VPC simulated, the agent and plugin
// built from this tree (nothing given, nothing beside the test binary) and
// started on the two planned nodes with the agent.env of their user data,
// 4 pods each through the plugin, every check passing, nothing left behind.
func TestSimRunDevPreset(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	name := "srcli" + strings.TrimLeft(time.Now().Format(".000000"), ".")
	t.Cleanup(func() { _ = sim.Sweep(name) })
	start := time.Now()
	stdout, stderr, err := runSimRunCmd(t, 4*time.Minute, "--preset", "dev", "--kubernetes=false", "--pods-per-node", "4", "-o", "json", "--name", name)
	t.Logf("took %v; progress:\n%s", time.Since(start).Round(time.Millisecond), stderr)
	if err != nil {
		t.Fatalf("sim run --preset dev: %v\n%s", err, stdout)
	}
	var rep simrun.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("-o json output is not a report: %v\n%s", err, stdout)
	}
	if !rep.OK || rep.Stack != "dev" || rep.SimName != name || rep.Kept {
		t.Fatalf("report: ok %v, stack %q, sim %q, kept %v", rep.OK, rep.Stack, rep.SimName, rep.Kept)
	}
	if len(rep.Groups) != 1 || rep.Groups[0].MaxPods != 16 || rep.Groups[0].AgentEnvSource != "user data agent.env" ||
		rep.Groups[0].AgentEnv["EKSNET_MAX_PODS"] != "16" || rep.Groups[0].AgentEnv["EKSNET_CLUSTER"] != "eksnet-dev" {
		t.Fatalf("node groups %+v: want general with max pods 16 and the agent.env of its user data", rep.Groups)
	}
	if len(rep.Nodes) != 2 || rep.Nodes[0].AZ == rep.Nodes[1].AZ {
		t.Fatalf("nodes %+v: want the dev preset's two nodes, one per AZ", rep.Nodes)
	}
	for _, n := range rep.Nodes {
		if n.Wired != 4 || n.Promised != 15 || n.AgentCapacity != 15 {
			t.Errorf("node %s: wired %d, promised %d, agent capacity %d; want 4, 15, 15", n.Name, n.Wired, n.Promised, n.AgentCapacity)
		}
	}
	for _, c := range rep.Checks {
		if !c.OK || c.Skipped {
			t.Errorf("check %s: %+v", c.Name, c)
		}
	}
	if len(rep.Checks) < 5 || rep.EC2Calls.Total == 0 || rep.AddLatency.Count != 8 {
		t.Fatalf("%d checks, %d EC2 calls, %d ADD samples; want 5+, some, 8", len(rep.Checks), rep.EC2Calls.Total, rep.AddLatency.Count)
	}
	for _, step := range []string{"planning stack dev", "agent ready", "checking traffic", "tearing down"} {
		if !strings.Contains(stderr, step) {
			t.Errorf("progress never said %q", step)
		}
	}
	if left, err := sim.Namespaces(name); err != nil || len(left) > 0 {
		t.Fatalf("namespaces left: %v %v", left, err)
	}
}

// TestSimUpKubernetes brings the dev preset up with Kubernetes in the
// background (a kept `sim run` as the daemon, one node), and checks what a
// user pokes at: its report (every check passed, kubelet's max pods from the
// user data, the plan's LimitRanges applied), `sim list`, `sim kubeconfig`
// with the real kubectl, and `sim down` removing it.
func TestSimUpKubernetes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	name := "suk8s" + strings.TrimLeft(time.Now().Format(".000000"), ".")
	t.Cleanup(func() {
		if _, err := os.Stat(simDir(name)); err == nil {
			_, _ = runSim(t, "sim", "down", name)
		}
		_ = sim.Sweep(name)
	})
	var out, progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	err := runWith(ctx, []string{"sim", "up", "--kubernetes", "--preset", "dev", "--nodes", "1", "--name", name},
		&app{stdout: &out, stderr: &progress, getenv: os.Getenv})
	t.Logf("sim up --kubernetes:\n%s%s", progress.String(), out.String())
	if err != nil {
		t.Fatalf("sim up --kubernetes: %v", err)
	}
	for _, want := range []string{"PASSED", "PASS  node general-0 runs max pods minus host-network pods: node general-0 (t3.medium): 15 pods Running, want 15 (max pods 16",
		"PASS  LimitRange defaults applied to a pod without requests: namespaces", "PASS  agent SIGKILLed during a rollout"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("the run's report lacks %q", want)
		}
	}
	if !strings.Contains(out.String(), "simulation "+name+" up with Kubernetes (stack dev") {
		t.Errorf("sim up output lacks the summary line:\n%s", out.String())
	}
	list, err := runSim(t, "sim", "list", "-o", "json")
	var entries []simListEntry
	if err != nil || json.Unmarshal([]byte(list), &entries) != nil {
		t.Fatalf("sim list -o json: %v\n%s", err, list)
	}
	if !slices.ContainsFunc(entries, func(e simListEntry) bool {
		return e.Name == name && e.State == "running" && e.Kind == "run" && e.Kubernetes && e.Nodes == 1
	}) {
		t.Errorf("sim list: no running kept run %s with Kubernetes and 1 node: %+v", name, entries)
	}
	kcPath, err := runSim(t, "sim", "kubeconfig", name, "--path")
	if err != nil {
		t.Fatalf("sim kubeconfig --path: %v\n%s", err, kcPath)
	}
	cache, err := kube.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(cache, "kubernetes-"+kube.KubernetesVersion, "kubectl")
	nodes, err := exec.Command(kubectl, "--kubeconfig", strings.TrimSpace(kcPath), "get", "nodes", "-o", "name").CombinedOutput()
	if err != nil || strings.TrimSpace(string(nodes)) != "node/general-0" {
		t.Errorf("kubectl get nodes with the sim's kubeconfig: %v\n%s", err, nodes)
	}
	if out, err := runSim(t, "sim", "down", name); err != nil {
		t.Fatalf("sim down: %v\n%s", err, out)
	}
	if _, err := os.Stat(simDir(name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sim down left %s: %v", simDir(name), err)
	}
	if out, err := runSim(t, "sim", "kubeconfig", name); err == nil || !strings.Contains(out+err.Error(), "not running") {
		t.Errorf("sim kubeconfig after down: %v %s; want not running", err, out)
	}
}

// TestSimRunFailsABrokenPromise: the dev preset promises a t3.medium max
// pods 16 (15 pod addresses); an EC2 that attaches only 2 ENIs to it wires
// 10. The run exits with an error naming the failed check, and the report
// names the node group and both counts.
func TestSimRunFailsABrokenPromise(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	name := "srbrk" + strings.TrimLeft(time.Now().Format(".000000"), ".")
	t.Cleanup(func() { _ = sim.Sweep(name) })
	stdout, stderr, err := runSimRunCmd(t, 3*time.Minute, "--preset", "dev", "--kubernetes=false", "--max-nodes", "1", "--ec2-limit", "t3.medium=2",
		"--stall-timeout", "3s", "--name", name)
	if err == nil || !strings.Contains(err.Error(), "node group general pods wired") {
		t.Fatalf("sim run with a stingy EC2: %v, want the node group's check to fail\n%s\n%s", err, stdout, stderr)
	}
	for _, s := range []string{"FAIL  node group general pods wired", "promises max pods 16 (15 pod addresses per node)", "wired 10", "10/15"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("report does not say %q:\n%s", s, stdout)
		}
	}
	if left, err := sim.Namespaces(name); err != nil || len(left) > 0 {
		t.Fatalf("namespaces left: %v %v", left, err)
	}
}

func TestSimRunRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--preset", "dev", "--stack", "dev"}, "give one of them"},
		{[]string{"--preset", "qa"}, "accepted values are dev, staging, prod"},
		{[]string{"-o", "yaml"}, "-o/--output \"yaml\": accepted values are text, json"},
		{[]string{"--pods-per-node", "-1"}, "--pods-per-node -1"},
		{[]string{"--max-nodes", "-2"}, "--max-nodes -2"},
		{[]string{"--stall-timeout", "0s"}, "--stall-timeout"},
		{[]string{"--stack", "nope", "--project-dir", "../.."}, "stack nope"},
		{[]string{"--agent-bin", "/nonexistent/eksnet-agent"}, "--agent-bin /nonexistent/eksnet-agent"},
		{[]string{"--ec2-limit", "t3.medium=none"}, `--ec2-limit "t3.medium=none"`},
		{[]string{"--cni-bin", "sim_run.go"}, "--cni-bin sim_run.go: sim_run.go: not an executable file"},
	} {
		_, _, err := runSimRunCmd(t, 30*time.Second, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sim run %v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}

func TestPickSimBinaries(t *testing.T) {
	dir := t.TempDir()
	agent, plugin := filepath.Join(dir, "eksnet-agent"), filepath.Join(dir, "eksnet-cni")
	if b := pickSimBinaries("", "", dir); b.Agent != "" || b.Plugin != "" {
		t.Fatalf("empty dir: %+v, want nothing found", b)
	}
	if err := os.WriteFile(agent, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plugin, []byte("#!/bin/sh\n"), 0o644); err != nil { // not executable
		t.Fatal(err)
	}
	if b := pickSimBinaries("", "", dir); b.Agent != "" || b.Plugin != "" {
		t.Fatalf("agent beside, plugin not executable: %+v, want neither taken (not a release layout)", b)
	}
	if b := pickSimBinaries("", "/opt/c", dir); b.Agent != "" || b.Plugin != "/opt/c" {
		t.Fatalf("a stray agent beside must not be paired with --cni-bin: %+v", b)
	}
	if b := pickSimBinaries("/opt/a", "/opt/c", dir); b.Agent != "/opt/a" || b.Plugin != "/opt/c" {
		t.Fatalf("flags must win: %+v", b)
	}
	if err := os.Chmod(plugin, 0o755); err != nil {
		t.Fatal(err)
	}
	if b := pickSimBinaries("", "", dir); b.Agent != agent || b.Plugin != plugin {
		t.Fatalf("both beside: %+v", b)
	}
	if b := pickSimBinaries("", "/opt/c", dir); b.Agent != agent || b.Plugin != "/opt/c" {
		t.Fatalf("release layout with --cni-bin: %+v", b)
	}
}

// TestSpecFromPlan: what the simulation builds is read from the plan, the
// agent settings from the rendered user data.
func TestSpecFromPlan(t *testing.T) {
	ctx := context.Background()
	cfg, err := stacks.Preset(stacks.PresetStaging, "staging", "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := specFromPlan(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("spec from the staging plan: %v", err)
	}
	if s.VPCCIDR.String() != cfg.Network.VPCCIDR || len(s.Subnets) != len(p.Subnets) || s.Region != "eu-west-1" {
		t.Fatalf("spec vpc %s, %d subnets, region %s; plan %s, %d subnets", s.VPCCIDR, len(s.Subnets), s.Region, p.VPCCIDR, len(p.Subnets))
	}
	g := s.NodeGroups[0]
	if g.Name != "general" || g.DesiredSize != 3 || len(g.Subnets) != 3 || g.MaxPods != p.NodeGroups[0].MaxPods ||
		g.AgentEnvSource != "user data agent.env" || g.AgentEnv["EKSNET_MODE"] != "prefix" || g.AgentEnv["EKSNET_MAX_PODS"] != "110" {
		t.Fatalf("node group %+v: want staging's general group with prefix mode and max pods 110 from its user data", g)
	}
	_, nodes, err := simrun.Layout(s, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	azs := map[string]bool{}
	for _, n := range nodes {
		azs[n.AZ] = true
	}
	if len(nodes) != 3 || len(azs) != 3 || nodes[1].InstanceType != "m6i.large" {
		t.Fatalf("layout %+v: want 3 nodes over 3 AZs, instance types in turn", nodes)
	}

	// Without user data the plan's agent settings are used.
	p.NodeGroups[0].UserData = ""
	if s, err = specFromPlan(p); err != nil || s.NodeGroups[0].AgentEnvSource != "plan agent settings" || s.NodeGroups[0].AgentEnv["EKSNET_MODE"] != "prefix" {
		t.Fatalf("fallback to the plan's agent settings: %+v, %v", s.NodeGroups, err)
	}
	p.NodeGroups[0].CNI.Mode = stacks.CNIAWSVPC
	if _, err := specFromPlan(p); err == nil || !strings.Contains(err.Error(), "cni.mode") || !strings.Contains(err.Error(), "general") {
		t.Fatalf("aws-vpc-cni node group: %v, want an error naming the group and cni.mode", err)
	}
}

// TestSpecFromPlanHostNetworkDaemonSets: a group declaring 2 host-network
// DaemonSets on t3.medium tells kubelet 18 (15 addresses + kube-proxy + 2),
// and sim run promises, and fills, only the 15 addresses its agent serves.
func TestSpecFromPlanHostNetworkDaemonSets(t *testing.T) {
	cfg, err := stacks.Preset(stacks.PresetDev, "dev", "us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NodeGroups[0].HostNetworkDaemonSets = 2
	p, err := plan.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := specFromPlan(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if g := s.NodeGroups[0]; g.MaxPods != 18 || g.HostNetworkDaemonSets != 2 || g.AgentEnv["EKSNET_HOST_NETWORK_DAEMONSETS"] != "2" {
		t.Fatalf("node group %+v: want max pods 18 and 2 host-network DaemonSets from the user data", g)
	}
	groups, nodes, err := simrun.Layout(s, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if groups[0].Promised != 15 || groups[0].HostNetworkPods != 3 || nodes[0].Target != 15 {
		t.Fatalf("group %+v, node %+v: want 15 promised (18 - kube-proxy - 2) and filled", groups[0], nodes[0])
	}
}

// TestSimRunMakesBinaryPathsAbsolute: the agent accepts only an absolute
// plugin path, so a relative --agent-bin or --cni-bin (as a user types it)
// reaches the nodes absolute.
func TestSimRunMakesBinaryPathsAbsolute(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"eksnet-agent", "eksnet-cni"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	o := simRunOptions{agentBin: "eksnet-agent", cniBin: "./eksnet-cni", maxNodes: 3, stallTimeout: time.Second, output: planOutputText}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	if o.agentBin != filepath.Join(dir, "eksnet-agent") || o.cniBin != filepath.Join(dir, "eksnet-cni") {
		t.Errorf("--agent-bin %q, --cni-bin %q: want both absolute in %s", o.agentBin, o.cniBin, dir)
	}
}
