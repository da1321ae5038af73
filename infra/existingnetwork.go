package infra

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/eksnet/eksnet/infra/cidrplan"
	"github.com/eksnet/eksnet/stacks"
)

// adopt fills n from an existing VPC (eksnet:network.vpcId) instead of
// creating one: it looks the VPC and every listed subnet up, builds the
// layout from their real CIDRs and zones (a subnet's name is its ID), and
// refuses, naming the key, what the cluster could not run on: subnets of
// another VPC, nodes in fewer than two zones, pod subnets that do not match
// the node zones one to one, subnets too small for the node groups, a
// service CIDR inside the VPC, load balancer subnets without the role tag
// the controller discovers them by, a private endpoint without VPC DNS.
func (n *Network) adopt(ctx *pulumi.Context, cfg stacks.Config) error {
	nw := cfg.Network
	vpc, err := ec2.LookupVpc(ctx, &ec2.LookupVpcArgs{Id: pulumi.StringRef(nw.VPCID)}, pulumi.Parent(n))
	if err != nil {
		return fmt.Errorf("eksnet:network.vpcId %s: look up: %w", nw.VPCID, err)
	}
	for _, a := range vpc.CidrBlockAssociations {
		if a.State == "associated" || a.State == "available" {
			n.CIDRs = append(n.CIDRs, a.CidrBlock)
		}
	}
	if len(n.CIDRs) == 0 {
		n.CIDRs = []string{vpc.CidrBlock}
	}
	n.VPCID = pulumi.String(vpc.Id).ToStringOutput()

	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if cfg.Cluster.EndpointPrivateAccess && (!vpc.EnableDnsSupport || !vpc.EnableDnsHostnames) {
		bad("eksnet:network.vpcId %s: enableDnsSupport %v, enableDnsHostnames %v; the cluster's private endpoint (eksnet:cluster.endpointPrivateAccess true) needs both true: turn them on in the VPC", nw.VPCID, vpc.EnableDnsSupport, vpc.EnableDnsHostnames)
	}
	for _, cidr := range n.CIDRs {
		if o, _ := cidrplan.Overlaps(cfg.Cluster.ServiceCIDR, cidr); o {
			bad("eksnet:cluster.serviceCidr %s overlaps %s, a CIDR block of VPC %s (eksnet:network.vpcId); the ranges must be disjoint", cfg.Cluster.ServiceCIDR, cidr, nw.VPCID)
		}
	}
	lbc := cfg.Addons.LoadBalancerController
	for _, list := range []struct {
		key  string
		role cidrplan.Role
		ids  []string
		tag  string // the role tag the load balancer controller needs
	}{
		{"eksnet:network.privateSubnetIds", cidrplan.Private, nw.PrivateSubnetIDs, stacks.TagInternalELB},
		{"eksnet:network.publicSubnetIds", cidrplan.Public, nw.PublicSubnetIDs, stacks.TagELB},
		{"eksnet:network.podSubnetIds", cidrplan.Pod, nw.PodSubnetIDs, ""},
	} {
		for _, id := range list.ids {
			sn, err := ec2.LookupSubnet(ctx, &ec2.LookupSubnetArgs{Id: pulumi.StringRef(id)}, pulumi.Parent(n))
			if err != nil {
				bad("%s %s: look up: %w", list.key, id, err)
				continue
			}
			if sn.VpcId != nw.VPCID {
				bad("%s %s: is in VPC %s, not in eksnet:network.vpcId %s", list.key, id, sn.VpcId, nw.VPCID)
				continue
			}
			if v, ok := sn.Tags[list.tag]; lbc && list.tag != "" && (!ok || (v != "1" && v != "")) {
				bad("%s %s: has no tag %s=1, by which the AWS Load Balancer Controller (eksnet:addons.loadBalancerController true) finds %s subnets; tag the subnet, or set addons.loadBalancerController false", list.key, id, list.tag, list.role)
			}
			n.Layout.Subnets = append(n.Layout.Subnets, cidrplan.Subnet{Name: id, AZ: sn.AvailabilityZone, CIDR: sn.CidrBlock, Role: list.role})
			switch list.role {
			case cidrplan.Public:
				n.PublicSubnetIDs = append(n.PublicSubnetIDs, pulumi.String(id))
			case cidrplan.Private:
				n.PrivateSubnetIDs = append(n.PrivateSubnetIDs, pulumi.String(id))
			case cidrplan.Pod:
				n.PodSubnetIDs = append(n.PodSubnetIDs, pulumi.String(id))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	azs := zones(n.Layout.ByRole(cidrplan.Private))
	if len(azs) < 2 {
		bad("eksnet:network.privateSubnetIds: all in %v; EKS needs the node subnets in at least 2 availability zones", azs)
	}
	if pods := n.Layout.ByRole(cidrplan.Pod); len(pods) > 0 {
		// One ENIConfig per zone, named for the zone: one pod subnet each.
		if got := zones(pods); !slices.Equal(got, azs) || len(got) != len(pods) {
			bad("eksnet:network.podSubnetIds: zones %v; custom networking needs exactly one pod subnet in each zone of the private subnets %v", podZones(pods), azs)
		}
	}
	for _, sn := range n.Layout.Subnets {
		if !inAny(sn.CIDR, n.CIDRs) {
			bad("subnet %s %s: outside the CIDR blocks %v that VPC %s reports", sn.Name, sn.CIDR, n.CIDRs, nw.VPCID)
		}
	}
	if len(errs) == 0 {
		// Nodes spread over the private subnets' zones.
		spread := cfg
		spread.Network.AvailabilityZones = azs
		errs = append(errs, spread.CheckCapacity(n.Layout)...)
	}
	return errors.Join(errs...)
}

// zones are the distinct availability zones of subnets, sorted.
func zones(subnets []cidrplan.Subnet) []string {
	var out []string
	for _, sn := range subnets {
		if !slices.Contains(out, sn.AZ) {
			out = append(out, sn.AZ)
		}
	}
	slices.Sort(out)
	return out
}

// podZones are the zones of subnets in order, duplicates kept, for errors.
func podZones(subnets []cidrplan.Subnet) []string {
	var out []string
	for _, sn := range subnets {
		out = append(out, sn.Name+" in "+sn.AZ)
	}
	return out
}

// inAny reports whether cidr lies inside one of blocks.
func inAny(cidr string, blocks []string) bool {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return false
	}
	for _, b := range blocks {
		if q, err := netip.ParsePrefix(b); err == nil && q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}
