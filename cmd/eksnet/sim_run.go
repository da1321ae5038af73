package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/infra/plan"
	"github.com/eksnet/eksnet/internal/cli"
	"github.com/eksnet/eksnet/sim/fakeec2"
	"github.com/eksnet/eksnet/sim/simcluster"
	"github.com/eksnet/eksnet/sim/simrun"
	"github.com/eksnet/eksnet/stacks"
)

// simRunDefaultRegion is the region a preset is planned in: nothing reaches
// AWS, it only names the simulated AZs.
const simRunDefaultRegion = "us-west-2"

type simRunOptions struct {
	pf           projectFlags
	preset       string
	stack        string
	region       string
	podsPerNode  int
	maxNodes     int
	keep         bool
	output       string
	agentBin     string
	cniBin       string
	name         string
	stallTimeout time.Duration
	lag          lagFlags
	ec2Limits    []string
	limits       func(string) (fakeec2.Limits, error)
	kubernetes   bool
}

func newSimRunCmd(a *app) *cobra.Command {
	var o simRunOptions
	cmd := &cobra.Command{
		Use:   "run [--preset dev|staging|prod | --stack ENV] [--pods-per-node N] [--max-nodes N] [--keep] [-o text|json]",
		Short: "Plan a stack, build its VPC in the simulation, run the real agent and plugin on its nodes, fill them with pods and check the traffic",
		Long: `The whole chain on one machine, no AWS account needed (root needed: it creates
network namespaces). It:
  1. loads and validates the preset (or stacks/Pulumi.<ENV>.yaml with --stack) and
     runs the Pulumi program under the mock engine, as ` + "`eksnet plan`" + ` does;
  2. builds the simulated VPC of that plan (VPC CIDR, planned subnets) with one node
     per desired node of each node group (at most --max-nodes per group), in its AZ's
     subnet, with the group's instance type and its EC2 limits;
  3. boots each node as an EKS node boots: the real eksnet-agent with the agent.env
     its rendered user data writes and, with --kubernetes (the default), containerd,
     kubelet configured from that user data and kube-proxy, under a real control
     plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler v1.34.2,
     built once from the Go module proxy into $EKSNET_SIM_CACHE or ~/.cache/eksnet/sim);
  4. fills every node to max pods minus its host-network pods (or --pods-per-node):
     a Deployment scheduled by kube-scheduler and wired by kubelet and containerd
     through eksnet-cni, or, with --kubernetes=false, by exec'ing the plugin in the
     node as a runtime does;
  5. checks and reports: pods running per node against the promised max pods, every
     pod IP on the node's ENIs, pod <-> pod across nodes without NAT, pod -> internet
     SNATed to the node IP, and under Kubernetes a hostPort pod, the LimitRange
     defaults, ClusterIP and NodePort Services through kube-proxy, one pod too many
     staying Pending, a scale to 0 and a rollout through an agent SIGKILL; the EC2
     calls made and pod start latency p50/p99;
  6. tears everything down (with --keep: after Ctrl-C) and exits non-zero if a check failed.

eksnet-agent and eksnet-cni are taken from --agent-bin/--cni-bin, else from beside
this executable, else built with ` + "`go build`" + ` when run inside the eksnet source tree.
See docs/sim-run.md.`,
		Example: `  sudo go run ./cmd/eksnet sim run --preset dev
  sudo eksnet sim run --preset staging --pods-per-node 20 -o json
  sudo eksnet sim run --stack team-a --max-nodes 2 --keep
  sudo eksnet sim run --preset dev --ec2-limit t3.medium=2   # an EC2 that breaks the promise: fails`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSimRun(cmd.Context(), a, cmd, &o) },
	}
	f := cmd.Flags()
	o.pf.register(cmd)
	f.StringVar(&o.preset, "preset", "", "preset to run: "+strings.Join(stacks.PresetNames, ", ")+" (default dev when --stack is not given)")
	f.StringVar(&o.stack, "stack", "", "stack to run: stacks/Pulumi.<ENV>.yaml with its overrides")
	f.StringVar(&o.region, "region", simRunDefaultRegion, "region a --preset is planned in (names the simulated AZs)")
	f.IntVar(&o.podsPerNode, "pods-per-node", 0, "pods to create on each node (0 = max pods - host-network pods, every promised pod address)")
	f.IntVar(&o.maxNodes, "max-nodes", 3, "simulate at most this many nodes of each node group (0 = the desired size)")
	f.BoolVar(&o.keep, "keep", false, "keep the cluster up after the report for inspection until interrupted (Ctrl-C), then tear down")
	f.StringVarP(&o.output, "output", "o", planOutputText, "report format: text or json (progress goes to stderr)")
	f.StringVar(&o.agentBin, "agent-bin", "", "eksnet-agent binary (default: beside this executable, else built from the source tree)")
	f.StringVar(&o.cniBin, "cni-bin", "", "eksnet-cni binary (default: beside this executable, else built from the source tree)")
	f.StringVar(&o.name, "name", "", "simulation name, prefix of its namespaces (default: random)")
	f.StringArrayVar(&o.ec2Limits, "ec2-limit", nil, "TYPE=ENIS[xIPS]: the simulated EC2 gives TYPE these limits instead of the instance table's (repeatable), to see a max-pods promise it cannot keep fail")
	f.DurationVar(&o.stallTimeout, "stall-timeout", 30*time.Second, "how long one pod may wait for an address before its node counts as full")
	o.lag.bind(f)
	f.BoolVar(&o.kubernetes, "kubernetes", true, "run real Kubernetes on the nodes (control plane, containerd, kubelet, kube-proxy; built once into "+kubeCacheHint+"); false: wire pods by exec'ing the plugin directly")
	_ = cmd.RegisterFlagCompletionFunc("preset", cobra.FixedCompletions(stacks.PresetNames, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{planOutputText, cli.OutputJSON}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// validate checks the flags before anything runs.
func (o *simRunOptions) validate() error {
	var errs []error
	if o.preset != "" && o.stack != "" {
		errs = append(errs, fmt.Errorf("--preset %s and --stack %s: give one of them", o.preset, o.stack))
	}
	if o.preset == "" && o.stack == "" {
		o.preset = stacks.PresetDev
	}
	if err := cli.CheckOutput(o.output, planOutputText, cli.OutputJSON); err != nil {
		errs = append(errs, err)
	}
	if o.podsPerNode < 0 {
		errs = append(errs, fmt.Errorf("--pods-per-node %d: accepted values are 0 (max pods - host-network pods) or more", o.podsPerNode))
	}
	if o.maxNodes < 0 {
		errs = append(errs, fmt.Errorf("--max-nodes %d: accepted values are 0 (the desired size) or more", o.maxNodes))
	}
	if o.stallTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--stall-timeout %v: must be positive, e.g. 30s", o.stallTimeout))
	}
	if err := o.lag.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(o.ec2Limits) > 0 {
		var err error
		if o.limits, err = simrun.EC2Limits(o.ec2Limits); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range []struct {
		flag string
		path *string
	}{{"--agent-bin", &o.agentBin}, {"--cni-bin", &o.cniBin}} {
		if *f.path == "" {
			continue
		}
		if err := simcluster.Executable(*f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", f.flag, *f.path, err))
			continue
		}
		// The agent takes the plugin's path from its settings, which
		// accept only absolute paths: a relative flag is made absolute.
		abs, err := filepath.Abs(*f.path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", f.flag, *f.path, err))
		}
		*f.path = abs
	}
	return errors.Join(errs...)
}

// config loads and validates the preset or stack.
func (o *simRunOptions) config() (stacks.Config, error) {
	if o.stack != "" {
		_, cfg, err := o.pf.loadStack(o.stack)
		return cfg, err
	}
	cfg, err := stacks.Preset(o.preset, o.preset, o.region)
	if err != nil {
		return cfg, fmt.Errorf("--%w", err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("--preset %s: %w", o.preset, err)
	}
	return cfg, nil
}

func runSimRun(ctx context.Context, a *app, cmd *cobra.Command, o *simRunOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	cfg, err := o.config()
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("sim run: needs root: it creates network namespaces, veths and nftables rules; run it with sudo, e.g. `sudo go run ./cmd/eksnet sim run --preset dev`")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("sim run: the ip command (iproute2) is not on PATH: nodes run the agent and the plugin with `ip netns exec`, as a runtime enters a pod; install it, e.g. `apt-get install iproute2`")
	}
	// Under `sim up --kubernetes` the state directory is the caller's.
	if o.keep && o.name != "" && a.getenv(simDaemonEnv) != "1" {
		if err := simNameFree(o.name); err != nil {
			return err
		}
	}
	progress := a.stderr
	fmt.Fprintf(progress, "planning stack %s (preset %s, region %s) under the Pulumi mock engine\n", cfg.Env, cfg.Preset, cfg.Region)
	p, err := plan.Run(ctx, cfg)
	if err != nil {
		return err
	}
	spec, err := specFromPlan(p)
	if err != nil {
		return err
	}
	bins, cleanup, err := findSimBinaries(ctx, a, o)
	if err != nil {
		return err
	}
	defer cleanup()
	var ko *simrun.KubeOptions
	if o.kubernetes {
		if ko, err = kubeOptions(ctx, a); err != nil {
			return err
		}
		// Runtimes need loopback; hostPort needs portmap (node bundle).
		bins.Companions = ko.Bins.CNIDir
	}
	rep, kept, err := simrun.Run(ctx, spec, simrun.Options{MaxNodes: o.maxNodes, PodsPerNode: o.podsPerNode, Keep: o.keep,
		Binaries: bins, SimName: o.name, StallTimeout: o.stallTimeout, Limits: o.limits, Progress: progress, Kubernetes: ko,
		IMDSDelay: o.lag.imds, DescribeDelay: o.lag.describe})
	if rep == nil {
		return err
	}
	// A run that finished but failed to tear down still reports what it
	// measured, then says what it left behind.
	runErr := err
	if o.output == cli.OutputJSON {
		err = simrun.WriteJSON(a.stdout, rep)
	} else {
		err = simrun.WriteText(a.stdout, rep)
	}
	if runErr != nil {
		return errors.Join(runErr, err)
	}
	if kept != nil {
		unpublish, perr := publishKept(rep, kept)
		if perr != nil {
			return errors.Join(err, perr, kept.Close())
		}
		defer unpublish()
		if rep.Kubeconfig != "" {
			fmt.Fprintf(progress, "\nkubectl --kubeconfig \"$(eksnet sim kubeconfig %s --path)\" get nodes,pods -A -o wide\n", rep.SimName)
		}
		fmt.Fprintf(progress, "\nsimulation %s kept up: its namespaces are /run/netns/%s.*; e.g.\n  eksnet sim status %s\n  eksnet sim exec %s %s -- ip rule\nCtrl-C or `eksnet sim down %s` tears it down.\n",
			rep.SimName, rep.SimName, rep.SimName, rep.SimName, rep.Nodes[0].Name, rep.SimName)
		<-ctx.Done()
		fmt.Fprintf(progress, "tearing down simulation %s\n", rep.SimName)
		err = errors.Join(err, kept.Close())
	}
	if err != nil {
		return err
	}
	if failed := rep.Failed(); len(failed) > 0 {
		names := make([]string, len(failed))
		for i, c := range failed {
			names[i] = c.Name
		}
		return fmt.Errorf("sim run: %d of %d checks failed: %s", len(failed), len(rep.Checks), strings.Join(names, "; "))
	}
	return nil
}

// specFromPlan is the part of the plan the simulation builds. The agent's
// settings are read from each node group's rendered user data (the agent.env
// it writes, what a real node gets), falling back to the plan's agent settings.
func specFromPlan(p *plan.Plan) (simrun.Spec, error) {
	vpc, err := netip.ParsePrefix(p.VPCCIDR)
	if err != nil {
		return simrun.Spec{}, fmt.Errorf("plan: vpc cidr %q: %w", p.VPCCIDR, err)
	}
	s := simrun.Spec{Stack: p.Stack, Region: p.Region, VPCCIDR: vpc}
	if p.ServiceCIDR != "" {
		if s.ServiceCIDR, err = netip.ParsePrefix(p.ServiceCIDR); err != nil {
			return s, fmt.Errorf("plan: service cidr %q: %w", p.ServiceCIDR, err)
		}
	}
	s.LimitRanges = planLimitRanges(p)
	for _, sn := range p.Subnets {
		c, err := netip.ParsePrefix(sn.CIDR)
		if err != nil {
			return s, fmt.Errorf("plan: subnet %s cidr %q: %w", sn.Name, sn.CIDR, err)
		}
		if !vpc.Contains(c.Addr()) {
			continue // secondary-CIDR pod subnets: not part of the simulated VPC
		}
		s.Subnets = append(s.Subnets, simrun.Subnet{Name: sn.Name, AZ: sn.AZ, CIDR: c})
	}
	for _, g := range p.NodeGroups {
		if g.CNI.Mode != stacks.CNIAgent {
			return s, fmt.Errorf("node group %s: cni.mode %q: sim run starts the eksnet agent on the nodes; accepted: cni.mode %s", g.Name, g.CNI.Mode, stacks.CNIAgent)
		}
		ng := simrun.NodeGroup{Name: g.Name, InstanceTypes: g.InstanceTypes, DesiredSize: g.DesiredSize, Subnets: g.Subnets, MaxPods: g.MaxPods,
			OS: g.OS, UserData: g.UserData}
		switch {
		case g.UserData != "":
			a, err := plan.UserDataAgent(g.UserData)
			if err != nil {
				return s, fmt.Errorf("node group %s: %w", g.Name, err)
			}
			ng.AgentEnv, ng.AgentEnvSource = a.Env, "user data agent.env"
		case g.CNI.Agent != nil:
			ng.AgentEnv, ng.AgentEnvSource = g.CNI.Agent.Env, "plan agent settings"
		default:
			return s, fmt.Errorf("node group %s: the plan has neither user data nor agent settings to start the agent with", g.Name)
		}
		// What the agent will leave out of its pool, as it reads it.
		if v, ok := ng.AgentEnv["EKSNET_HOST_NETWORK_DAEMONSETS"]; ok {
			if ng.HostNetworkDaemonSets, err = strconv.Atoi(v); err != nil {
				return s, fmt.Errorf("node group %s: %s EKSNET_HOST_NETWORK_DAEMONSETS %q: want an integer", g.Name, ng.AgentEnvSource, v)
			}
		}
		s.NodeGroups = append(s.NodeGroups, ng)
	}
	return s, nil
}

// findSimBinaries picks eksnet-agent and eksnet-cni, each from its flag,
// else beside this executable (where a release unpacks them), else from a
// `go build` of the source tree the command runs in (so `sudo go run
// ./cmd/eksnet sim run` works from a fresh clone). cleanup removes what it
// built.
func findSimBinaries(ctx context.Context, a *app, o *simRunOptions) (simcluster.Binaries, func(), error) {
	none := func() {}
	exe, _ := os.Executable()
	b := pickSimBinaries(o.agentBin, o.cniBin, filepath.Dir(exe))
	if b.Agent != "" && b.Plugin != "" {
		return b, none, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return b, none, fmt.Errorf("finding the source tree: %w", err)
	}
	root, ok := simcluster.SourceRoot(wd)
	if !ok {
		return b, none, fmt.Errorf("eksnet-agent and eksnet-cni: not given with --agent-bin/--cni-bin, not beside %s, and %s is not inside the eksnet source tree to build them from; "+
			"build them with `go build -o DIR/ ./cmd/eksnet-agent ./cmd/eksnet-cni` in the checkout and pass --agent-bin DIR/eksnet-agent --cni-bin DIR/eksnet-cni", exe, wd)
	}
	dir, err := os.MkdirTemp("", "eksnet-sim-run-bin-")
	if err != nil {
		return b, none, fmt.Errorf("creating a directory for the built binaries: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	fmt.Fprintf(a.stderr, "building eksnet-agent and eksnet-cni from %s (go build)\n", root)
	built, err := simcluster.BuildBinaries(ctx, root, dir)
	if err != nil {
		cleanup()
		return b, none, err
	}
	if b.Agent == "" {
		b.Agent = built.Agent
	}
	if b.Plugin == "" {
		b.Plugin = built.Plugin
	}
	return b, cleanup, nil
}

// pickSimBinaries takes each binary from its flag, else both from exeDir
// when both are there and executable (a release unpacks them beside eksnet;
// one stray file there is not a release, and mixing builds would pair an
// agent and a plugin of different versions); "" for one still missing. The
// flags were checked by validate.
func pickSimBinaries(agentFlag, cniFlag, exeDir string) simcluster.Binaries {
	b := simcluster.Binaries{Agent: agentFlag, Plugin: cniFlag}
	beside, ok := simcluster.Beside(exeDir)
	if !ok {
		return b
	}
	if b.Agent == "" {
		b.Agent = beside.Agent
	}
	if b.Plugin == "" {
		b.Plugin = beside.Plugin
	}
	return b
}
