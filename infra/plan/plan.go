// Package plan runs the eksnet Pulumi program under the Pulumi mock engine
// (no credentials, no pulumi CLI, no cloud calls) and turns what it
// registered into a Plan: the resource tree with key inputs, the subnets,
// each node group's max pods with the reason and the CNI settings its
// rendered user data carries, and the IP capacity of every subnet.
//
// `eksnet plan` prints it; the simulated VPC (sim) is built from
// it, so the plan is read from what the program actually registered (the
// launch template's user data is decoded, not recomputed) rather than from
// the config alone.
package plan

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/eksnet/eksnet/infra"
	"github.com/eksnet/eksnet/infra/cidrplan"
	"github.com/eksnet/eksnet/stacks"
)

// Project is the Pulumi project name (Pulumi.yaml).
const Project = "eksnet"

// Plan is what `pulumi up` would create for a stack, as the mock engine saw it.
type Plan struct {
	Stack             string `json:"stack"`
	Preset            string `json:"preset"`
	Region            string `json:"region"`
	ClusterName       string `json:"clusterName"`
	KubernetesVersion string `json:"kubernetesVersion"`
	VPCCIDR           string `json:"vpcCidr"`
	// ExistingVPC says what a stack in an existing VPC (eksnet:network.vpcId)
	// leaves to it; "" when the stack creates its VPC.
	ExistingVPC string `json:"existingVpc,omitempty"`
	// PodCIDR is the secondary block under custom networking, or "".
	PodCIDR     string                  `json:"podCidr,omitempty"`
	ServiceCIDR string                  `json:"serviceCidr"`
	NAT         string                  `json:"nat"`
	Subnets     []Subnet                `json:"subnets"`
	NodeGroups  []NodeGroup             `json:"nodeGroups"`
	Capacity    []stacks.SubnetCapacity `json:"capacity"`
	Resources   []Resource              `json:"resources"`
	// Exposure is every surface reachable from outside the VPC.
	Exposure []Exposure `json:"exposure"`
	// Closed are the surfaces the stack would open but keeps shut until
	// configured (the demo ALB without eksnet:addons.demoAllowedCidrs).
	Closed []string `json:"closed,omitempty"`
	// LimitRanges are the namespaces that get the default LimitRange, as
	// registered: default and every namespace the stack creates.
	LimitRanges []LimitRange `json:"limitRanges"`
	// DemoImage is the demo Deployment's image as registered, "" without the demo.
	DemoImage string `json:"demoImage,omitempty"`
	// Endpoints are the registered VPC endpoints (a stack without NAT).
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Addons are the EKS add-ons with their versions and where each came from.
	Addons []Addon `json:"addons"`
	// UpRefusals are what `eksnet up` / `pulumi up` would refuse as
	// configured (infra.RequireDeployable); plan still runs.
	UpRefusals []string `json:"upRefusals,omitempty"`
}

// Subnet is one planned subnet with the ID the mock engine gave it.
type Subnet struct {
	Name string        `json:"name"`
	AZ   string        `json:"az"`
	CIDR string        `json:"cidr"`
	Role cidrplan.Role `json:"role"`
	// Reservation is the prefix-type CIDR reservation, or "".
	Reservation string `json:"reservation,omitempty"`
	ID          string `json:"id"`
}

// Endpoint is one registered VPC endpoint.
type Endpoint struct {
	ServiceName string `json:"serviceName"`
	Type        string `json:"type"`
	PrivateDNS  bool   `json:"privateDns,omitempty"`
	// Why is what private nodes use it for.
	Why string `json:"why"`
}

// LimitRange is one registered LimitRange: its namespace and the
// container defaults it sets ("cpu=100m,memory=128Mi").
type LimitRange struct {
	Namespace      string `json:"namespace"`
	Name           string `json:"name"`
	DefaultRequest string `json:"defaultRequest"`
	Default        string `json:"default"`
}

// NodeGroup is one managed node group as planned.
type NodeGroup struct {
	Name          string            `json:"name"`
	InstanceTypes []string          `json:"instanceTypes"`
	Arch          string            `json:"arch"`
	OS            string            `json:"os"`
	CapacityType  string            `json:"capacityType"`
	MinSize       int               `json:"minSize"`
	DesiredSize   int               `json:"desiredSize"`
	MaxSize       int               `json:"maxSize"`
	Labels        map[string]string `json:"labels"`
	// Subnets are the names of the subnets nodes launch in (one per AZ).
	Subnets []string `json:"subnets"`
	AZs     []string `json:"azs"`
	// PodSubnets are where pod addresses come from: the node subnets, or
	// the pod subnets under custom networking.
	PodSubnets            []string `json:"podSubnets"`
	MaxPods               int      `json:"maxPods"`
	MaxPodsReason         string   `json:"maxPodsReason"`
	LimitedBy             string   `json:"limitedBy"`
	KubeReservedMemoryMiB int      `json:"kubeReservedMemoryMiB"`
	AMIParameter          string   `json:"amiParameter"`
	AMI                   string   `json:"ami"`
	// AMIPinned is true when eksnet:nodeGroups[i].amiId fixes the AMI.
	AMIPinned bool `json:"amiPinned"`
	CNI       CNI  `json:"cni"`
	// UserData is the rendered user data (plain text) of the launch template.
	UserData string `json:"-"`
}

// CNI is a node group's pod networking as its user data configures it.
type CNI struct {
	Mode             string `json:"mode"`
	PrefixDelegation bool   `json:"prefixDelegation"`
	// Agent is the agent install read back from the user data (agent mode).
	Agent *Agent `json:"agent,omitempty"`
}

// Agent is the agent install part of a node group's user data.
type Agent struct {
	Arch      string `json:"arch"`
	BinaryURL string `json:"binaryUrl"`
	SHA256    string `json:"sha256"`
	// Placeholder is true when no agent build was configured.
	Placeholder bool `json:"placeholder"`
	// Env is agent.env: EKSNET_MODE, EKSNET_MAX_PODS, warm targets...
	Env map[string]string `json:"env"`
}

// Resource is one registered resource with the inputs worth reading.
type Resource struct {
	URN     string         `json:"urn"`
	Type    string         `json:"type"`
	Name    string         `json:"name"`
	Parent  string         `json:"parent,omitempty"`
	Protect bool           `json:"protect,omitempty"`
	Remote  bool           `json:"remote,omitempty"`
	Inputs  map[string]any `json:"inputs,omitempty"`
}

// Execute runs the program for cfg under mocks and returns what it built.
// Tests use it to reach both the components and the recorded inputs.
func Execute(ctx context.Context, cfg stacks.Config, mocks *Mocks) (*infra.Stack, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// A plan is a preview: DryRun lets the program use placeholder agents.
	pctx, err := pulumi.NewContext(ctx, pulumi.RunInfo{Project: mocks.Project, Stack: mocks.Stack, Mocks: mocks, DryRun: true})
	if err != nil {
		return nil, fmt.Errorf("start mock engine: %w", err)
	}
	defer pctx.Close()
	var st *infra.Stack
	err = pulumi.RunWithContext(pctx, func(c *pulumi.Context) error {
		var err error
		st, err = infra.Build(c, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("run program for stack %s under the mock engine: %w", cfg.Env, err)
	}
	return st, nil
}

// Run plans stack cfg: runs the program under the mock engine and reads
// the plan back from what it registered.
func Run(ctx context.Context, cfg stacks.Config) (*Plan, error) {
	mocks := NewMocks(Project, cfg.Env, cfg.Region)
	st, err := Execute(ctx, cfg, mocks)
	if err != nil {
		return nil, err
	}
	return build(cfg, st, mocks)
}

func build(cfg stacks.Config, st *infra.Stack, mocks *Mocks) (*Plan, error) {
	p := &Plan{
		Stack: cfg.Env, Preset: cfg.Preset, Region: cfg.Region, ClusterName: cfg.ClusterName,
		KubernetesVersion: cfg.KubernetesVersion, VPCCIDR: cfg.Network.VPCCIDR, PodCIDR: cfg.Network.PodCIDR,
		ServiceCIDR: cfg.Cluster.ServiceCIDR, NAT: cfg.Network.NAT, ExistingVPC: cfg.ExistingVPCNote(),
	}
	if cfg.ExistingVPC() {
		p.VPCCIDR = strings.Join(st.Network.CIDRs, ",")
	}
	regs := mocks.Registrations()
	byName := map[string]Registration{}
	for _, r := range regs {
		byName[r.Type+"::"+r.Name] = r
		p.Resources = append(p.Resources, Resource{
			URN: r.URN, Type: r.Type, Name: r.Name, Parent: r.ParentURN, Protect: r.Protect, Remote: r.Remote,
			Inputs: keyInputs(r.Type, r.Inputs),
		})
	}
	slices.SortFunc(p.Resources, func(a, b Resource) int { return strings.Compare(a.URN, b.URN) })
	for _, sn := range st.Network.Layout.Subnets {
		if cfg.ExistingVPC() {
			p.Subnets = append(p.Subnets, Subnet{Name: sn.Name, AZ: sn.AZ, CIDR: sn.CIDR, Role: sn.Role, ID: sn.Name})
			continue
		}
		reg, ok := byName["aws:ec2/subnet:Subnet::network-"+sn.Name]
		if !ok {
			return nil, fmt.Errorf("plan: subnet %s was planned but not registered", sn.Name)
		}
		if reg.Inputs["cidrBlock"] != sn.CIDR {
			return nil, fmt.Errorf("plan: subnet %s registered with cidr %v, planned %s", sn.Name, reg.Inputs["cidrBlock"], sn.CIDR)
		}
		p.Subnets = append(p.Subnets, Subnet{Name: sn.Name, AZ: sn.AZ, CIDR: sn.CIDR, Role: sn.Role, Reservation: sn.Reservation, ID: reg.ID})
	}
	p.Exposure, p.Closed, p.UpRefusals = exposures(cfg, regs)
	p.DemoImage = demoImage(byName)
	p.LimitRanges = limitRanges(regs)
	p.Endpoints = endpoints(cfg.Region, regs)
	eksAddons, err := addons(cfg, regs)
	if err != nil {
		return nil, err
	}
	p.Addons = eksAddons
	caps, err := cfg.Capacity(st.Network.Layout, st.Pods)
	if err != nil {
		return nil, err
	}
	p.Capacity = caps
	var bins []infra.AgentBinary
	if st.Agent != nil {
		bins = st.Agent.Binaries
	}
	for i, g := range st.NodeGroups {
		ng, err := nodeGroup(cfg, cfg.NodeGroups[i], g, st.Network.Layout, byName, bins)
		if err != nil {
			return nil, err
		}
		p.NodeGroups = append(p.NodeGroups, ng)
	}
	return p, nil
}

func nodeGroup(cfg stacks.Config, spec stacks.NodeGroup, g *infra.NodeGroup, layout cidrplan.Layout, byName map[string]Registration, agentBinaries []infra.AgentBinary) (NodeGroup, error) {
	lt, ok := byName["aws:ec2/launchTemplate:LaunchTemplate::ng-"+spec.Name]
	if !ok {
		return NodeGroup{}, fmt.Errorf("plan: node group %s has no registered launch template", spec.Name)
	}
	mng, ok := byName["aws:eks/nodeGroup:NodeGroup::ng-"+spec.Name]
	if !ok {
		return NodeGroup{}, fmt.Errorf("plan: node group %s was not registered", spec.Name)
	}
	b64, _ := lt.Inputs["userData"].(string)
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return NodeGroup{}, fmt.Errorf("plan: node group %s user data is not base64: %w", spec.Name, err)
	}
	ud := string(raw)
	udMaxPods, err := UserDataMaxPods(spec.OS, ud)
	if err != nil {
		return NodeGroup{}, fmt.Errorf("plan: node group %s: %w", spec.Name, err)
	}
	if udMaxPods != g.Pods.Result.MaxPods {
		return NodeGroup{}, fmt.Errorf("plan: node group %s user data sets max pods %d but the calculator says %d", spec.Name, udMaxPods, g.Pods.Result.MaxPods)
	}
	ng := NodeGroup{
		Name: spec.Name, InstanceTypes: spec.InstanceTypes, Arch: g.Pods.Arch, OS: spec.OS, CapacityType: spec.CapacityType,
		MinSize: spec.MinSize, DesiredSize: spec.DesiredSize, MaxSize: spec.MaxSize, Labels: stringMap(mng.Inputs["labels"]),
		MaxPods: udMaxPods, MaxPodsReason: g.Pods.Reason, LimitedBy: g.Pods.Result.LimitedBy,
		KubeReservedMemoryMiB: g.Pods.Result.KubeReservedMemoryMiB, AMIParameter: g.AMIParameter, AMI: g.AMI, AMIPinned: spec.AMIID != "",
		CNI:      CNI{Mode: cfg.CNI.Mode, PrefixDelegation: cfg.CNI.PrefixDelegation},
		UserData: ud,
	}
	ids, _ := mng.Inputs["subnetIds"].([]any)
	for _, sn := range layout.ByRole(cidrplan.Private) {
		id := sn.Name // an existing VPC's subnet is named by its ID
		if !cfg.ExistingVPC() {
			id = byName["aws:ec2/subnet:Subnet::network-"+sn.Name].ID
		}
		if slices.Contains(ids, any(id)) {
			ng.Subnets = append(ng.Subnets, sn.Name)
			ng.AZs = append(ng.AZs, sn.AZ)
		}
	}
	podRole := cidrplan.Private
	if cfg.CustomNetworking() {
		podRole = cidrplan.Pod
	}
	for _, sn := range layout.ByRole(podRole) {
		if slices.Contains(ng.AZs, sn.AZ) {
			ng.PodSubnets = append(ng.PodSubnets, sn.Name)
		}
	}
	if cfg.CNI.Mode == stacks.CNIAgent {
		a, err := UserDataAgent(ud)
		if err != nil {
			return NodeGroup{}, fmt.Errorf("plan: node group %s: %w", spec.Name, err)
		}
		for _, b := range agentBinaries {
			if b.Arch == a.Arch {
				a.Placeholder = b.Placeholder
			}
		}
		ng.CNI.Agent = a
	}
	return ng, nil
}

// limitRanges reads every registered LimitRange's namespace and container
// defaults, sorted by namespace.
func limitRanges(regs []Registration) []LimitRange {
	var out []LimitRange
	for _, r := range regs {
		if r.Type != "kubernetes:core/v1:LimitRange" {
			continue
		}
		meta := mapOf(r.Inputs["metadata"])
		lr := LimitRange{Namespace: fmt.Sprint(meta["namespace"]), Name: fmt.Sprint(meta["name"])}
		if limits, _ := mapOf(r.Inputs["spec"])["limits"].([]any); len(limits) > 0 {
			lr.DefaultRequest = quantities(mapOf(limits[0])["defaultRequest"])
			lr.Default = quantities(mapOf(limits[0])["default"])
		}
		out = append(out, lr)
	}
	slices.SortFunc(out, func(a, b LimitRange) int { return strings.Compare(a.Namespace, b.Namespace) })
	return out
}

// endpoints reads the registered VPC endpoints, sorted by service name.
func endpoints(region string, regs []Registration) []Endpoint {
	why := map[string]string{}
	for _, e := range stacks.PrivateEndpoints {
		why[stacks.EndpointServiceName(region, e.Service)] = e.Why
	}
	var out []Endpoint
	for _, r := range regs {
		if r.Type != "aws:ec2/vpcEndpoint:VpcEndpoint" {
			continue
		}
		name := fmt.Sprint(r.Inputs["serviceName"])
		dns, _ := r.Inputs["privateDnsEnabled"].(bool)
		out = append(out, Endpoint{ServiceName: name, Type: fmt.Sprint(r.Inputs["vpcEndpointType"]), PrivateDNS: dns, Why: why[name]})
	}
	slices.SortFunc(out, func(a, b Endpoint) int { return strings.Compare(a.ServiceName, b.ServiceName) })
	return out
}

// quantities is a resource map as cpu=100m,memory=128Mi.
func quantities(v any) string {
	m := stringMap(v)
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// demoImage is the image the registered demo Deployment runs.
func demoImage(byName map[string]Registration) string {
	d, ok := byName["kubernetes:apps/v1:Deployment::addons-2048"]
	if !ok {
		return ""
	}
	containers, _ := mapOf(mapOf(mapOf(d.Inputs["spec"])["template"])["spec"])["containers"].([]any)
	if len(containers) == 0 {
		return ""
	}
	s, _ := mapOf(containers[0])["image"].(string)
	return s
}

func stringMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := map[string]string{}
	for k, x := range m {
		out[k] = fmt.Sprint(x)
	}
	return out
}
