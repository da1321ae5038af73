// Package simrun is the logic of `eksnet sim run`: given what a stack's plan
// says (VPC CIDR, subnets, node groups with their instance types, desired
// sizes, promised max pods and the agent settings their user data writes),
// it builds that VPC in the simulation (package sim), starts the real
// eksnet-agent on one simulated node per desired node (package simcluster),
// fills every node with pods through the real eksnet-cni plugin up to max
// pods minus the host-network pods, and checks what the kernel really does:
// every promised pod wired, pod <-> pod across nodes with the pods' own
// addresses, pod -> internet SNATed to the node's address. The Report says
// what passed and what failed; a node group whose promise its nodes cannot
// keep fails naming the group and both counts.
//
// The package takes a Spec, not a Pulumi plan, so it imports no Pulumi: the
// CLI converts the plan (cmd/eksnet/sim_run.go).
package simrun

import (
	"errors"

	"fmt"
	"github.com/eksnet/eksnet/bootstrap/maxpods"
	"net/netip"
	"strings"
)

// Spec is the part of a stack's plan the simulation builds.
type Spec struct {
	// Stack names the stack or preset, for the report.
	Stack string `json:"stack"`
	// Region is the AWS region the fakes answer for.
	Region string `json:"region"`
	// VPCCIDR is the VPC's primary block.
	VPCCIDR netip.Prefix `json:"vpcCidr"`
	// Subnets are the planned subnets.
	Subnets []Subnet `json:"subnets"`
	// NodeGroups are the planned node groups.
	NodeGroups []NodeGroup `json:"nodeGroups"`
	// ServiceCIDR is the cluster's service range (Kubernetes layer).
	ServiceCIDR netip.Prefix `json:"serviceCidr"`
	// LimitRanges are the in-cluster LimitRanges the stack creates.
	LimitRanges []LimitRange `json:"limitRanges,omitempty"`
}

// Subnet is one planned subnet.
type Subnet struct {
	Name string       `json:"name"`
	AZ   string       `json:"az"`
	CIDR netip.Prefix `json:"cidr"`
}

// NodeGroup is one planned node group.
type NodeGroup struct {
	Name string `json:"name"`
	// InstanceTypes are tried in order, node by node.
	InstanceTypes []string `json:"instanceTypes"`
	// DesiredSize is how many nodes the group starts with.
	DesiredSize int `json:"desiredSize"`
	// Subnets are the names of the subnets its nodes launch in.
	Subnets []string `json:"subnets"`
	// MaxPods is what kubelet is told (read back from the user data).
	MaxPods int `json:"maxPods"`
	// HostNetworkDaemonSets are the user's host-network DaemonSet pods
	// that MaxPods counts beyond kube-proxy (EKSNET_HOST_NETWORK_DAEMONSETS
	// of the agent.env): they take slots, not addresses.
	HostNetworkDaemonSets int `json:"hostNetworkDaemonSets,omitempty"`
	// AgentEnv is the agent.env the user data writes.
	AgentEnv map[string]string `json:"agentEnv"`
	// AgentEnvSource says where AgentEnv came from (e.g. "user data").
	AgentEnvSource string `json:"agentEnvSource"`
	// OS is the node image family (al2023, al2, bottlerocket) and UserData
	// the rendered user data kubelet's settings are read from.
	OS       string `json:"os"`
	UserData string `json:"-"`
}

// HostNetworkPods is the host-network term of the group's max pods:
// kube-proxy (the agent is no pod) and the user's DaemonSets.
func (g NodeGroup) HostNetworkPods() int {
	return maxpods.HostNetwork{Agent: true, DaemonSets: g.HostNetworkDaemonSets}.Pods()
}

// Validate says which field of the spec is unusable.
func (s Spec) Validate() error {
	var errs []error
	if !s.VPCCIDR.IsValid() || !s.VPCCIDR.Addr().Is4() {
		errs = append(errs, fmt.Errorf("vpc cidr %v: must be an IPv4 CIDR", s.VPCCIDR))
	}
	byName := map[string]bool{}
	for i, sn := range s.Subnets {
		if sn.Name == "" || byName[sn.Name] {
			errs = append(errs, fmt.Errorf("subnets[%d].name %q: must be unique and non-empty", i, sn.Name))
		}
		byName[sn.Name] = true
	}
	if len(s.NodeGroups) == 0 {
		errs = append(errs, errors.New("node groups: none planned, nothing to run pods on"))
	}
	for i, g := range s.NodeGroups {
		at := fmt.Sprintf("node group %s (nodeGroups[%d])", g.Name, i)
		if len(g.InstanceTypes) == 0 {
			errs = append(errs, fmt.Errorf("%s: no instance types", at))
		}
		if g.DesiredSize < 0 {
			errs = append(errs, fmt.Errorf("%s: desired size %d is negative", at, g.DesiredSize))
		}
		if len(g.Subnets) == 0 {
			errs = append(errs, fmt.Errorf("%s: no node subnets", at))
		}
		for _, sn := range g.Subnets {
			if !byName[sn] {
				errs = append(errs, fmt.Errorf("%s: subnet %q is not among the planned subnets", at, sn))
			}
		}
		if g.HostNetworkDaemonSets < 0 {
			errs = append(errs, fmt.Errorf("%s: host-network DaemonSets %d: must be 0 or more", at, g.HostNetworkDaemonSets))
		}
		if g.MaxPods <= g.HostNetworkPods() {
			errs = append(errs, fmt.Errorf("%s: max pods %d leaves no pod addresses after %d host-network pods", at, g.MaxPods, g.HostNetworkPods()))
		}
	}
	return errors.Join(errs...)
}

// NodePlan is one simulated node to start.
type NodePlan struct {
	Name         string `json:"name"`
	Group        string `json:"group"`
	InstanceType string `json:"instanceType"`
	Subnet       string `json:"subnet"`
	AZ           string `json:"az"`
	SubnetCIDR   string `json:"subnetCidr"`
	// Target is how many pods the run creates on it.
	Target int `json:"target"`
}

// GroupPlan is how many of a group's desired nodes are simulated.
type GroupPlan struct {
	Name      string `json:"name"`
	Desired   int    `json:"desired"`
	Simulated int    `json:"simulated"`
	MaxPods   int    `json:"maxPods"`
	// HostNetworkPods are kube-proxy and the user's DaemonSets.
	HostNetworkPods int `json:"hostNetworkPods"`
	// Promised is max pods minus the host-network pods: the pod addresses
	// each node must wire.
	Promised int `json:"promised"`
	Target   int `json:"target"`
	// AgentEnv is the agent.env its nodes get, and AgentEnvSource where it
	// came from.
	AgentEnv       map[string]string `json:"agentEnv"`
	AgentEnvSource string            `json:"agentEnvSource"`
}

// Layout places nodes: for each group, min(desired, maxNodes) nodes (all
// when maxNodes is 0), spread over the group's subnets in order as a
// managed node group balances AZs, instance types taken in turn; each gets
// podsPerNode pods (0 = every promised address; never more than promised,
// since kubelet would not schedule more). Node names are GROUP-I, shortened
// to fit the simulation's 32 characters with room for pod suffixes.
func Layout(s Spec, maxNodes, podsPerNode int) ([]GroupPlan, []NodePlan, error) {
	if maxNodes < 0 {
		return nil, nil, fmt.Errorf("--max-nodes %d: must be 0 (no cap) or more", maxNodes)
	}
	if podsPerNode < 0 {
		return nil, nil, fmt.Errorf("--pods-per-node %d: must be 0 (max pods less the host-network pods) or more", podsPerNode)
	}
	subnets := map[string]Subnet{}
	for _, sn := range s.Subnets {
		subnets[sn.Name] = sn
	}
	var groups []GroupPlan
	var nodes []NodePlan
	used := map[string]bool{}
	for _, g := range s.NodeGroups {
		count := g.DesiredSize
		if maxNodes > 0 {
			count = min(count, maxNodes)
		}
		promised := g.MaxPods - g.HostNetworkPods()
		target := promised
		if podsPerNode > 0 {
			target = min(podsPerNode, promised)
		}
		groups = append(groups, GroupPlan{Name: g.Name, Desired: g.DesiredSize, Simulated: count, MaxPods: g.MaxPods, HostNetworkPods: g.HostNetworkPods(), Promised: promised, Target: target,
			AgentEnv: g.AgentEnv, AgentEnvSource: g.AgentEnvSource})
		base := nodeBase(g.Name)
		for i := range count {
			name := fmt.Sprintf("%s-%d", base, i)
			for j := 2; used[name]; j++ {
				name = fmt.Sprintf("%s%d-%d", base, j, i)
			}
			used[name] = true
			sn := subnets[g.Subnets[i%len(g.Subnets)]]
			nodes = append(nodes, NodePlan{Name: name, Group: g.Name, InstanceType: g.InstanceTypes[i%len(g.InstanceTypes)],
				Subnet: sn.Name, AZ: sn.AZ, SubnetCIDR: sn.CIDR.String(), Target: target})
		}
	}
	return groups, nodes, nil
}

// nodeBase turns a node group name into the start of a simulation name:
// lower case a-z, 0-9 and '-', at most 12 characters, so NODE-I-pN fits.
func nodeBase(group string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(group) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() == 12 {
			break
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "ng"
	}
	return out
}

// PodName is the simulation name of pod i on node (unique in the run).
func PodName(node string, i int) string { return fmt.Sprintf("%s-p%d", node, i) }

// InternetSource is the source the internet must see from a pod on a node
// with agent settings env: the node's primary address, unless SNAT is left
// to a NAT gateway (EKSNET_EXTERNAL_SNAT=true) or the destination is
// excluded from SNAT (EKSNET_SNAT_EXCLUDE_CIDRS), when it is the pod's own.
// why says which rule applied.
func InternetSource(env map[string]string, dst, node, pod netip.Addr) (want netip.Addr, why string) {
	if strings.EqualFold(strings.TrimSpace(env["EKSNET_EXTERNAL_SNAT"]), "true") {
		return pod, "external SNAT: the NAT gateway translates, the node does not"
	}
	for _, c := range strings.Split(env["EKSNET_SNAT_EXCLUDE_CIDRS"], ",") {
		if p, err := netip.ParsePrefix(strings.TrimSpace(c)); err == nil && p.Contains(dst) {
			return pod, "destination " + dst.String() + " is in EKSNET_SNAT_EXCLUDE_CIDRS " + p.String()
		}
	}
	return node, "SNAT to the node's primary address"
}
