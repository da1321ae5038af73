package infra

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/eksnet/eksnet/stacks"
)

// Stack is everything the program built, returned so tests and the plan
// reach every component.
type Stack struct {
	Config     stacks.Config
	Pods       []stacks.GroupPods
	Network    *Network
	NodeIAM    *NodeIAM
	Agent      *AgentBundle // nil unless agent mode
	Cluster    *Cluster
	Kubernetes *Kubernetes
	NodeGroups []*NodeGroup
	Addons     *Addons
}

// ConfigFromPulumi resolves the stack's Config from its Pulumi config with
// the decoder `eksnet plan` and `eksnet up` use (stacks.Resolve), so an
// unknown or misspelled eksnet: key fails here with the same message.
// config is the run's whole config ("namespace:key" to value, as
// pulumi.RunInfo.Config holds it): the Go SDK gives a program its config
// only key by key, never the list of keys, and a typo is a key no one
// knows to ask for. The stack name is the environment.
func ConfigFromPulumi(ctx *pulumi.Context, config map[string]string) (stacks.Config, error) {
	var secret []string
	for k := range config {
		if ctx.IsConfigSecret(k) {
			secret = append(secret, k)
		}
	}
	return stacks.Resolve(ctx.Stack(), config, secret)
}

// Program is the Pulumi program of a run whose whole config is config:
// resolve the stack's Config, then Build.
func Program(config map[string]string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg, err := ConfigFromPulumi(ctx, config)
		if err != nil {
			return err
		}
		_, err = Build(ctx, cfg)
		return err
	}
}

// EngineProgram is Program over the config the engine starts the process
// with (PULUMI_CONFIG, which the SDK reads into pulumi.RunInfo): what plain
// `pulumi up` runs. Pass both to pulumi.Run; the option records the config
// before the program starts.
func EngineProgram() (pulumi.RunFunc, pulumi.RunOption) {
	var config map[string]string
	program := func(ctx *pulumi.Context) error { return Program(config)(ctx) }
	return program, func(info *pulumi.RunInfo) { config = info.Config }
}

// BuildProgram is the program for a Config already resolved (and
// validated) from the stack file: what the eksnet commands run inline, so
// what they planned is what they deploy.
func BuildProgram(cfg stacks.Config) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		_, err := Build(ctx, cfg)
		return err
	}
}

// Build validates cfg and creates the environment. Order matters and is
// expressed as dependencies, not statement order: node groups depend on
// the cluster component (VPC CNI add-on configuration), the node IAM, the
// agent objects and the ENIConfigs, so the CNI is configured before any
// node boots; charts wait for the node groups.
func Build(ctx *pulumi.Context, cfg stacks.Config) (*Stack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("stack %s: %w", cfg.Env, err)
	}
	if !ctx.DryRun() {
		if err := RequireDeployable(cfg); err != nil {
			return nil, fmt.Errorf("stack %s: %w", cfg.Env, err)
		}
	}
	pods, err := cfg.NodeGroupPods()
	if err != nil {
		return nil, err
	}
	s := &Stack{Config: cfg, Pods: pods}
	if s.Network, err = NewNetwork(ctx, "network", cfg); err != nil {
		return nil, err
	}
	agentMode := cfg.CNI.Mode == stacks.CNIAgent
	iamArgs := NodeIAMArgs{ClusterName: cfg.ClusterName, Region: cfg.Region, VPCID: s.Network.VPCID, Agent: agentMode}
	before := []pulumi.Resource{}
	if agentMode {
		if s.Agent, err = NewAgentBundle(ctx, "agent", cfg); err != nil {
			return nil, err
		}
		iamArgs.AgentBucketArn = s.Agent.Bucket.Arn
		before = append(before, s.Agent)
	}
	if s.NodeIAM, err = NewNodeIAM(ctx, "node-iam", iamArgs); err != nil {
		return nil, err
	}
	if s.Cluster, err = NewCluster(ctx, "cluster", cfg, ClusterArgs{Network: s.Network, NodeRole: s.NodeIAM.Role}); err != nil {
		return nil, err
	}
	if s.Kubernetes, err = NewKubernetes(ctx, "k8s", cfg, s.Cluster, s.Network); err != nil {
		return nil, err
	}
	before = append(before, s.Cluster, s.NodeIAM, s.Kubernetes)
	// The components' children are named too: the SDK expands a component
	// dependency only into the children registered by the time it looks.
	before = append(before, s.Cluster.EKS, s.NodeIAM.Role)
	for _, a := range s.NodeIAM.Attachments {
		before = append(before, a)
	}
	if s.NodeIAM.AgentPolicy != nil {
		before = append(before, s.NodeIAM.AgentPolicy)
	}
	for _, ec := range s.Kubernetes.ENIConfigs {
		before = append(before, ec)
	}
	if s.Agent != nil {
		for _, arch := range Architectures {
			before = append(before, s.Agent.Objects[arch])
		}
	}
	var groups []pulumi.Resource
	for i, ng := range cfg.NodeGroups {
		g, err := NewNodeGroup(ctx, "ng-"+ng.Name, cfg, NodeGroupArgs{
			Spec: ng, Pods: pods[i], Cluster: s.Cluster, NodeRole: s.NodeIAM.Role,
			SubnetIDs: s.Network.PrivateSubnetIDs, Agent: s.Agent, DependsOn: before,
		})
		if err != nil {
			return nil, err
		}
		s.NodeGroups = append(s.NodeGroups, g)
		groups = append(groups, g)
	}
	if s.Addons, err = NewAddons(ctx, "addons", cfg, AddonsArgs{Cluster: s.Cluster, Network: s.Network, Kubernetes: s.Kubernetes, NodeGroups: groups}); err != nil {
		return nil, err
	}
	ctx.Export("clusterName", s.Cluster.Name)
	ctx.Export("kubeconfig", pulumi.ToSecret(s.Cluster.EKS.KubeconfigJson))
	ctx.Export("vpcId", s.Network.VPCID)
	ctx.Export("privateSubnetIds", s.Network.PrivateSubnetIDs)
	ctx.Export("publicSubnetIds", s.Network.PublicSubnetIDs)
	maxPods := pulumi.IntMap{}
	for i, ng := range cfg.NodeGroups {
		maxPods[ng.Name] = pulumi.Int(pods[i].Result.MaxPods)
	}
	ctx.Export("maxPods", maxPods)
	if s.Agent != nil {
		ctx.Export("agentBucket", s.Agent.Bucket.Bucket)
	}
	return s, nil
}
