package stacks

import (
	"fmt"
	"regexp"

	"github.com/eksnet/eksnet/bootstrap/userdata"
)

var (
	vpcIDRE    = regexp.MustCompile(`^vpc-([0-9a-f]{8}|[0-9a-f]{17})$`)
	subnetIDRE = regexp.MustCompile(`^subnet-([0-9a-f]{8}|[0-9a-f]{17})$`)
)

// Load balancer role tags: the AWS Load Balancer Controller discovers
// subnets for internet-facing load balancers by the first, internal ones
// by the second. The stack puts them on the subnets it creates; an
// existing VPC's subnets must carry them.
const (
	TagELB         = "kubernetes.io/role/elb"
	TagInternalELB = "kubernetes.io/role/internal-elb"
)

// subnetIDKeys are the subnet list keys of an existing VPC, by role.
func (n Network) subnetIDKeys() []struct {
	Key string
	IDs []string
} {
	return []struct {
		Key string
		IDs []string
	}{
		{"eksnet:network.privateSubnetIds", n.PrivateSubnetIDs},
		{"eksnet:network.publicSubnetIds", n.PublicSubnetIDs},
		{"eksnet:network.podSubnetIds", n.PodSubnetIDs},
	}
}

// validateExistingVPC checks the bring-your-own-VPC keys as far as they
// can be checked offline: ID formats, which keys need which. The VPC's
// CIDRs, zones and tags are checked by the program after it looks them up.
func (c Config) validateExistingVPC() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	n := c.Network
	if n.VPCID == "" {
		for _, k := range n.subnetIDKeys() {
			if len(k.IDs) > 0 {
				bad("%s: set without eksnet:network.vpcId; subnet IDs name an existing VPC's subnets: set network.vpcId (vpc-...) too, or remove them and the stack creates its own", k.Key)
			}
		}
		return errs
	}
	if !vpcIDRE.MatchString(n.VPCID) {
		bad("eksnet:network.vpcId %q: not a VPC ID (vpc- and 8 or 17 hex digits, e.g. vpc-0123456789abcdef0)", n.VPCID)
	}
	seen := map[string]string{}
	for _, k := range n.subnetIDKeys() {
		for _, id := range k.IDs {
			switch {
			case !subnetIDRE.MatchString(id):
				bad("%s %q: not a subnet ID (subnet- and 8 or 17 hex digits, e.g. subnet-0123456789abcdef0)", k.Key, id)
			case seen[id] != "":
				bad("%s %q: also listed in %s; each subnet has one role", k.Key, id, seen[id])
			}
			if seen[id] == "" {
				seen[id] = k.Key
			}
		}
	}
	if len(n.PrivateSubnetIDs) < 2 {
		bad("eksnet:network.privateSubnetIds: %d given with eksnet:network.vpcId; the nodes need private subnets in at least 2 availability zones (EKS requires 2)", len(n.PrivateSubnetIDs))
	}
	if n.PodCIDR != "" {
		bad("eksnet:network.podCidr %q with eksnet:network.vpcId: the stack adds no CIDR block to an existing VPC; give its pod subnets in network.podSubnetIds and remove podCidr", n.PodCIDR)
	}
	if len(n.PodSubnetIDs) > 0 && c.CNI.Mode == CNIAgent {
		bad("eksnet:network.podSubnetIds: %s. Remove podSubnetIds or set eksnet:cni.mode to aws-vpc-cni", userdata.AgentRefusesCustomNetworking)
	}
	if c.Addons.DemoApp && len(n.PublicSubnetIDs) == 0 && len(c.Addons.DemoAllowedCIDRs) > 0 {
		bad("eksnet:addons.demoApp true with eksnet:network.vpcId and no eksnet:network.publicSubnetIds: the demo's internet-facing ALB needs public subnets; list them in network.publicSubnetIds or set addons.demoApp false")
	}
	return errs
}

// ExistingVPCNote says what a stack in an existing VPC leaves to the VPC,
// for plan and errors.
func (c Config) ExistingVPCNote() string {
	if !c.ExistingVPC() {
		return ""
	}
	s := "existing VPC " + c.Network.VPCID + ": the stack creates no VPC, subnets, NAT gateways, route tables or VPC endpoints"
	if c.Network.NAT == NATNone {
		s += "; with eksnet:network.nat none its private subnets need the VPC endpoints " + privateEndpointNames() + " (the stack creates them only in a VPC of its own)"
	}
	return s
}
