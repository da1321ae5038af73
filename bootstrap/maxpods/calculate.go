package maxpods

import (
	"errors"
	"fmt"
)

// Modes a Result can report.
const (
	ModeSecondaryIP      = "secondary-ip"
	ModePrefixDelegation = "prefix-delegation"
)

// Kubelet scalability limits: the max pods a node may run whatever its ENIs
// could address (EKS guidance: 110 up to 30 vCPUs, 250 above).
const (
	CapSmall      = 110
	CapLarge      = 250
	capSmallVCPUs = 30
	// ipsPerPrefix is the size of the /28 prefix one secondary slot holds
	// under prefix delegation.
	ipsPerPrefix = 16
)

// Host-network pods run in the node's own network namespace: each takes
// one of kubelet's max pods and no ENI address, so
//
//	max pods = pod addresses + host-network pods.
const (
	// AWSVPCCNIHostNetworkPods are aws-node and kube-proxy: the "+ 2" of
	// the max pods AWS publishes (eni-max-pods.txt), right where the AWS
	// VPC CNI runs.
	AWSVPCCNIHostNetworkPods = 2
	// AgentHostNetworkPods is kube-proxy alone: the eksnet agent runs as a
	// systemd unit, not a pod, so agent nodes must not count aws-node, or
	// kubelet admits a pod the node has no address for.
	AgentHostNetworkPods = 1
)

// HostNetwork says which host-network pods run on every node of a group:
// the CNI's own and the user's host-network DaemonSets. Its zero value is
// the AWS VPC CNI with nothing added, the count AWS publishes.
type HostNetwork struct {
	// Agent is true on eksnet agent nodes: the agent is a systemd unit, so
	// kube-proxy is the only host-network pod the stack runs there.
	Agent bool
	// DaemonSets are the host-network DaemonSet pods the user runs on every
	// node (node-exporter, a log shipper...), beyond kube-proxy and aws-node.
	DaemonSets int
}

// Pods is the host-network term of max pods: AgentHostNetworkPods or
// AWSVPCCNIHostNetworkPods, plus the user's DaemonSets. It is the one
// definition the stack, the user data, the agent and sim run share.
func (h HostNetwork) Pods() int {
	n := AWSVPCCNIHostNetworkPods
	if h.Agent {
		n = AgentHostNetworkPods
	}
	return n + max(h.DaemonSets, 0)
}

// ErrPrefixDelegationUnsupported is wrapped by Calculate when prefix
// delegation is asked of a type that is neither Nitro nor bare metal.
var ErrPrefixDelegationUnsupported = errors.New("prefix delegation unsupported")

// ErrInvalidHostNetwork is wrapped by Calculate when the host-network
// DaemonSet count is negative.
var ErrInvalidHostNetwork = errors.New("invalid host-network DaemonSets")

// ErrInvalidMaxENI is wrapped by Calculate when the max-ENI override is
// negative or leaves no ENI for pods.
var ErrInvalidMaxENI = errors.New("invalid max ENI")

// Options are the networking choices that change max pods.
type Options struct {
	// PrefixDelegation assigns /28 prefixes instead of single secondary IPs.
	PrefixDelegation bool
	// CustomNetworking puts pods on other subnets, so the primary ENI hosts none.
	CustomNetworking bool
	// MaxENI limits the ENIs the CNI attaches; 0 means no override.
	MaxENI int
	// Uncapped returns the raw formula value instead of capping at 110/250.
	Uncapped bool
	// HostNetwork gives the host-network term of the formula; the zero
	// value is AWS's own (aws-node and kube-proxy).
	HostNetwork HostNetwork
}

// PodAddresses is how many pod addresses a node of maxPods needs under o:
// max pods less the host-network pods.
func (o Options) PodAddresses(maxPods int) int { return max(maxPods-o.HostNetwork.Pods(), 0) }

// Result is the max-pods decision for one instance type, with the inputs that
// produced it so a reader can check the arithmetic.
type Result struct {
	InstanceType string `json:"instanceType"`
	// MaxPods is the value for kubelet's maxPods.
	MaxPods int `json:"maxPods"`
	// Uncapped is the formula value before the kubelet cap.
	Uncapped int `json:"uncapped"`
	// PodAddresses are the addresses the pod ENIs hold for pods, and
	// HostNetworkPods the pods that need none: Uncapped is their sum.
	PodAddresses    int `json:"podAddresses"`
	HostNetworkPods int `json:"hostNetworkPods"`
	// ENIs is the number of ENIs after the max-ENI override.
	ENIs int `json:"enis"`
	// PodENIs is the number of ENIs whose addresses pods use: ENIs, less the
	// primary one under custom networking.
	PodENIs   int    `json:"podENIs"`
	IPsPerENI int    `json:"ipsPerENI"`
	VCPUs     int    `json:"vcpus"`
	Mode      string `json:"mode"`
	// CustomNetworking reports whether the primary ENI was left out.
	CustomNetworking bool `json:"customNetworking"`
	// Cap is the kubelet limit for this type (110 or 250), applied unless
	// Options.Uncapped.
	Cap int `json:"cap"`
	// CapReason explains why MaxPods differs from Uncapped, or that the vCPU
	// count was unknown; empty when the formula value stands as is.
	CapReason string `json:"capReason"`
	// KubeReservedMemoryMiB is 11 * MaxPods + 255, the kubelet memory
	// reservation that matches MaxPods.
	KubeReservedMemoryMiB int `json:"kubeReservedMemoryMiB"`
}

// GroupResult is the max-pods decision for a node group of several instance
// types: every node gets the same kubelet config, so the smallest value wins.
type GroupResult struct {
	MaxPods int `json:"maxPods"`
	// LimitedBy names the type that gave the minimum (the first one on ties).
	LimitedBy             string   `json:"limitedBy"`
	KubeReservedMemoryMiB int      `json:"kubeReservedMemoryMiB"`
	Types                 []Result `json:"types"`
}

// Calculate computes max pods for instanceType from the embedded table.
func Calculate(instanceType string, o Options) (Result, error) {
	return Default().Calculate(instanceType, o)
}

// Calculate computes max pods for instanceType with the rules in the package
// doc. Errors: *UnknownInstanceTypeError, ErrPrefixDelegationUnsupported,
// ErrInvalidMaxENI (the last two wrapped, with the input and accepted values).
func (t *Table) Calculate(instanceType string, o Options) (Result, error) {
	it, err := t.Lookup(instanceType)
	if err != nil {
		return Result{}, err
	}
	return calculate(it, o)
}

// CalculateGroup computes max pods for each of types and the group minimum.
func (t *Table) CalculateGroup(types []string, o Options) (GroupResult, error) {
	if len(types) == 0 {
		return GroupResult{}, errors.New("calculating max pods for a node group: no instance types given; want at least one")
	}
	g := GroupResult{Types: make([]Result, 0, len(types))}
	for i, name := range types {
		r, err := t.Calculate(name, o)
		if err != nil {
			return GroupResult{}, err
		}
		g.Types = append(g.Types, r)
		if i == 0 || r.MaxPods < g.MaxPods {
			g.MaxPods, g.LimitedBy = r.MaxPods, r.InstanceType
		}
	}
	g.KubeReservedMemoryMiB = KubeReservedMemoryMiB(g.MaxPods)
	return g, nil
}

// KubeReservedMemoryMiB is the kubelet memory reservation EKS AMIs use for a
// node running maxPods pods: 11 MiB per pod plus 255 MiB.
func KubeReservedMemoryMiB(maxPods int) int { return 11*maxPods + 255 }

func calculate(it InstanceType, o Options) (Result, error) {
	mode := ModeSecondaryIP
	if o.PrefixDelegation {
		mode = ModePrefixDelegation
		if !it.SupportsPrefixDelegation() {
			return Result{}, fmt.Errorf("%w on %s (hypervisor %s, not bare metal): prefix delegation needs a nitro or bare-metal instance type; choose one or use secondary-IP mode",
				ErrPrefixDelegationUnsupported, it.Name, it.Hypervisor)
		}
	}
	if o.HostNetwork.DaemonSets < 0 {
		return Result{}, fmt.Errorf("%w %d for %s: accepted values are 0 (none beyond kube-proxy and the CNI's own) or more", ErrInvalidHostNetwork, o.HostNetwork.DaemonSets, it.Name)
	}
	enis := it.MaxENIs
	switch {
	case o.MaxENI < 0:
		return Result{}, fmt.Errorf("%w %d for %s: accepted values are 0 (no override) or 1..%d", ErrInvalidMaxENI, o.MaxENI, it.Name, it.MaxENIs)
	case o.MaxENI > 0:
		enis = min(o.MaxENI, enis)
	}
	podENIs := enis
	if o.CustomNetworking {
		podENIs--
	}
	if podENIs < 1 {
		if it.MaxENIs < 2 {
			return Result{}, fmt.Errorf("%w: %s has %d ENI and custom networking leaves the primary ENI without pods: choose a type with at least 2 ENIs or turn custom networking off",
				ErrInvalidMaxENI, it.Name, it.MaxENIs)
		}
		return Result{}, fmt.Errorf("%w %d for %s: with custom networking the primary ENI hosts no pods, so accepted values are 0 (no override) or 2..%d",
			ErrInvalidMaxENI, o.MaxENI, it.Name, it.MaxENIs)
	}

	addrs := podENIs * (it.IPv4PerENI - 1)
	if o.PrefixDelegation {
		addrs *= ipsPerPrefix
	}
	hostNet := o.HostNetwork.Pods()
	uncapped := addrs + hostNet

	maxPods, limit, reason := applyCap(it, uncapped, o.Uncapped)
	return Result{
		InstanceType:          it.Name,
		MaxPods:               maxPods,
		Uncapped:              uncapped,
		PodAddresses:          addrs,
		HostNetworkPods:       hostNet,
		ENIs:                  enis,
		PodENIs:               podENIs,
		IPsPerENI:             it.IPv4PerENI,
		VCPUs:                 it.VCPUs,
		Mode:                  mode,
		CustomNetworking:      o.CustomNetworking,
		Cap:                   limit,
		CapReason:             reason,
		KubeReservedMemoryMiB: KubeReservedMemoryMiB(maxPods),
	}, nil
}

// applyCap applies the kubelet scalability limit for its vCPU count (110 up
// to 30 vCPUs or when unknown, 250 above) to the formula value, and explains
// any difference (or the unknown vCPUs) in reason.
func applyCap(it InstanceType, uncapped int, keepUncapped bool) (maxPods, limit int, reason string) {
	limit = CapSmall
	switch {
	case it.VCPUs == 0:
		reason = fmt.Sprintf("vCPU count of %s unknown: assuming the %d-pod kubelet limit of small instances", it.Name, CapSmall)
	case it.VCPUs > capSmallVCPUs:
		limit = CapLarge
	}
	switch {
	case uncapped <= limit:
		return uncapped, limit, reason
	case keepUncapped:
		return uncapped, limit, fmt.Sprintf("uncapped on request: %d exceeds the kubelet limit of %d", uncapped, limit)
	case it.VCPUs == 0:
		return limit, limit, fmt.Sprintf("capped at %d: vCPU count of %s unknown, so the kubelet limit of small instances applies", limit, it.Name)
	}
	cmpOp := "<="
	if it.VCPUs > capSmallVCPUs {
		cmpOp = ">"
	}
	return limit, limit, fmt.Sprintf("capped at %d: kubelet limit for instances with %s %d vCPUs (%s has %d)", limit, cmpOp, capSmallVCPUs, it.Name, it.VCPUs)
}

// secondaryIPMaxPods is AWS's secondary-IP formula: every ENI's addresses
// but its primary one, plus aws-node and kube-proxy.
func secondaryIPMaxPods(enis, ipsPerENI int) int {
	return enis*(ipsPerENI-1) + AWSVPCCNIHostNetworkPods
}
