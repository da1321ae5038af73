package stacks

import (
	"fmt"

	"github.com/eksnet/eksnet/bootstrap/maxpods"
	"github.com/eksnet/eksnet/infra/cidrplan"
)

// GroupPods is the max-pods decision for one node group with the address
// figures the capacity check needs.
type GroupPods struct {
	Name   string              `json:"name"`
	Arch   string              `json:"arch"`
	Result maxpods.GroupResult `json:"result"`
	// Reason says in one line where the value comes from.
	Reason string `json:"reason"`
	// PodAddresses is MaxPods less the host-network pods, which take no
	// ENI address (maxpods.Options.PodAddresses).
	PodAddresses int `json:"podAddresses"`
	// ENIAddresses is the worst case of ENI primary addresses a full node
	// holds on the subnet its pod ENIs live on.
	ENIAddresses int `json:"eniAddresses"`
	// Prefixes is the /28 prefixes a full node holds (prefix delegation).
	Prefixes int `json:"prefixes"`
}

// MaxPodsOptions are the calculator options the stack's CNI settings and
// node group ng imply: the host-network term counts kube-proxy, aws-node
// unless the agent is the CNI, and the group's own host-network DaemonSets.
func (c Config) MaxPodsOptions(ng NodeGroup) maxpods.Options {
	return maxpods.Options{
		PrefixDelegation: c.CNI.PrefixDelegation, CustomNetworking: c.CustomNetworking(), MaxENI: c.CNI.MaxENI,
		HostNetwork: maxpods.HostNetwork{Agent: c.CNI.Mode == CNIAgent, DaemonSets: ng.HostNetworkDaemonSets},
	}
}

// NodeGroupPods computes max pods for every node group.
func (c Config) NodeGroupPods() ([]GroupPods, error) {
	out := make([]GroupPods, 0, len(c.NodeGroups))
	for i, ng := range c.NodeGroups {
		field := fmt.Sprintf("eksnet:nodeGroups[%d].instanceTypes", i)
		arch, err := groupArch(field, ng.InstanceTypes)
		if err != nil {
			return nil, err
		}
		o := c.MaxPodsOptions(ng)
		g, err := maxpods.Default().CalculateGroup(ng.InstanceTypes, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		gp := GroupPods{Name: ng.Name, Arch: arch, Result: g, PodAddresses: o.PodAddresses(g.MaxPods)}
		for _, r := range g.Types {
			if r.InstanceType != g.LimitedBy {
				continue
			}
			gp.Reason = reason(r)
		}
		for _, r := range g.Types {
			perENI := r.IPsPerENI - 1
			if c.CNI.PrefixDelegation {
				perENI *= 16
			}
			enis := min(ceilDiv(gp.PodAddresses, perENI), r.PodENIs)
			gp.ENIAddresses = max(gp.ENIAddresses, enis)
		}
		if c.CNI.PrefixDelegation {
			gp.Prefixes = ceilDiv(gp.PodAddresses, 16)
		}
		out = append(out, gp)
	}
	return out, nil
}

func reason(r maxpods.Result) string {
	var formula string
	switch {
	case r.Mode != maxpods.ModePrefixDelegation:
		formula = fmt.Sprintf("%d ENIs x (%d IPs - 1) + %d = %d", r.PodENIs, r.IPsPerENI, r.HostNetworkPods, r.Uncapped)
	default:
		formula = fmt.Sprintf("%d ENIs x (%d IPs - 1) x 16 + %d = %d", r.PodENIs, r.IPsPerENI, r.HostNetworkPods, r.Uncapped)
	}
	s := fmt.Sprintf("%s, %s mode", r.InstanceType, r.Mode)
	if r.CustomNetworking {
		s += ", custom networking (primary ENI hosts no pods)"
	}
	s += ": " + formula
	switch {
	case r.CapReason != "":
		s += ", " + r.CapReason
	case r.MaxPods != r.Uncapped:
		s += fmt.Sprintf(", capped at %d", r.MaxPods)
	}
	return s
}

// SubnetCapacity compares what a subnet can hand out with what the node
// groups may take from it when every node is full.
type SubnetCapacity struct {
	Subnet cidrplan.Subnet `json:"subnet"`
	// MaxNodes is the nodes that may land in this subnet's AZ: each group's
	// maxSize spread over the AZs, rounded up.
	MaxNodes int `json:"maxNodes"`
	// Addresses is what EC2 can hand out outside any prefix reservation.
	Addresses int `json:"addresses"`
	// AddressesNeeded is node primary IPs, ENI primary IPs and (secondary-IP
	// mode) one address per pod.
	AddressesNeeded int `json:"addressesNeeded"`
	// PrefixRoom is the /28s in the reservation (prefix delegation only).
	PrefixRoom     int  `json:"prefixRoom"`
	PrefixesNeeded int  `json:"prefixesNeeded"`
	Fits           bool `json:"fits"`
}

// Capacity computes the per-subnet IP capacity report for a layout.
func (c Config) Capacity(layout cidrplan.Layout, pods []GroupPods) ([]SubnetCapacity, error) {
	azs := max(len(c.AZs()), 1)
	var out []SubnetCapacity
	for _, sn := range layout.Subnets {
		if sn.Role == cidrplan.Public {
			continue
		}
		usable, err := cidrplan.Usable(sn.CIDR)
		if err != nil {
			return nil, err
		}
		sc := SubnetCapacity{Subnet: sn, Addresses: usable}
		if sn.Reservation != "" {
			res, err := cidrplan.Usable(sn.Reservation)
			if err != nil {
				return nil, err
			}
			sc.PrefixRoom = (res + cidrplan.AWSReserved) / 16
			sc.Addresses -= res + cidrplan.AWSReserved
		}
		podsHere := (sn.Role == cidrplan.Pod) == c.CustomNetworking()
		for i, ng := range c.NodeGroups {
			nodes := ceilDiv(ng.MaxSize, azs)
			sc.MaxNodes += nodes
			gp := pods[i]
			if sn.Role == cidrplan.Private {
				sc.AddressesNeeded += nodes // the node's primary IP
			}
			if !podsHere {
				continue
			}
			perNode := gp.ENIAddresses
			if sn.Role == cidrplan.Private && perNode > 0 {
				perNode-- // the primary ENI's address is the node IP, counted above
			}
			if c.CNI.PrefixDelegation {
				sc.PrefixesNeeded += nodes * gp.Prefixes
			} else {
				perNode += gp.PodAddresses
			}
			sc.AddressesNeeded += nodes * perNode
		}
		if !c.CNI.PrefixDelegation || !podsHere {
			sc.PrefixRoom = 0
		}
		sc.Fits = sc.AddressesNeeded <= sc.Addresses && sc.PrefixesNeeded <= sc.PrefixRoom
		if c.CNI.PrefixDelegation && podsHere && sn.Reservation == "" {
			// Without a reservation prefixes come from anywhere in the subnet.
			sc.PrefixRoom = usable / 16
			sc.Fits = sc.AddressesNeeded+16*sc.PrefixesNeeded <= usable
		}
		out = append(out, sc)
	}
	return out, nil
}

func ceilDiv(a, b int) int {
	if b <= 0 {
		return 0
	}
	return (a + b - 1) / b
}
