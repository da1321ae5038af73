package infra

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/eksnet/eksnet/infra/cidrplan"
	"github.com/eksnet/eksnet/stacks"
)

// Network is the VPC and everything routed in it: created by the stack, or
// an existing VPC looked up (eksnet:network.vpcId), whose VPC, Subnets,
// gateways and route tables are then nil and whose Layout is built from
// the lookups (each subnet named by its ID).
type Network struct {
	pulumi.ResourceState
	// VPCID is the VPC's ID either way.
	VPCID pulumi.StringOutput
	// CIDRs are the VPC's IPv4 blocks: the planned ones, or those AWS reports.
	CIDRs            []string
	VPC              *ec2.Vpc
	SecondaryCIDR    *ec2.VpcIpv4CidrBlockAssociation
	InternetGateway  *ec2.InternetGateway
	Subnets          map[string]*ec2.Subnet // by planned subnet name
	Layout           cidrplan.Layout
	NATGateways      []*ec2.NatGateway
	RouteTables      map[string]*ec2.RouteTable // public, or private-<az>
	Reservations     []*ec2.SubnetCidrReservation
	PublicSubnetIDs  pulumi.StringArray
	PrivateSubnetIDs pulumi.StringArray
	PodSubnetIDs     pulumi.StringArray
	// Endpoints are the VPC endpoints of a stack without NAT
	// (PrivateEndpoints), behind EndpointSecurityGroup; nil otherwise.
	Endpoints             []*ec2.VpcEndpoint
	EndpointSecurityGroup *ec2.SecurityGroup
}

// SubnetTags returns the tags of a planned subnet: the cluster tag on all,
// the load balancer role tags so the LB controller finds them.
func SubnetTags(clusterName string, sn cidrplan.Subnet) map[string]string {
	t := map[string]string{"Name": clusterName + "-" + sn.Name, "kubernetes.io/cluster/" + clusterName: "shared", "eksnet.io/subnet-role": string(sn.Role)}
	switch sn.Role {
	case cidrplan.Public:
		t["kubernetes.io/role/elb"] = "1"
	case cidrplan.Private:
		t["kubernetes.io/role/internal-elb"] = "1"
	}
	return t
}

// NewNetwork builds the VPC from cfg's layout.
func NewNetwork(ctx *pulumi.Context, name string, cfg stacks.Config, opts ...pulumi.ResourceOption) (*Network, error) {
	n := &Network{Subnets: map[string]*ec2.Subnet{}, RouteTables: map[string]*ec2.RouteTable{}}
	if err := ctx.RegisterComponentResource("eksnet:infra:Network", name, n, opts...); err != nil {
		return nil, fmt.Errorf("register network %s: %w", name, err)
	}
	if cfg.ExistingVPC() {
		if err := n.adopt(ctx, cfg); err != nil {
			return nil, err
		}
		return n, n.registerOutputs(ctx)
	}
	layout, err := cfg.Layout()
	if err != nil {
		return nil, fmt.Errorf("network layout: %w", err)
	}
	n.Layout = layout
	n.CIDRs = []string{cfg.Network.VPCCIDR}
	if cfg.Network.PodCIDR != "" {
		n.CIDRs = append(n.CIDRs, cfg.Network.PodCIDR)
	}
	parent := pulumi.Parent(n)
	tags := func(extra map[string]string) pulumi.StringMap {
		m := pulumi.StringMap{"eksnet.io/stack": pulumi.String(cfg.Env)}
		for k, v := range extra {
			m[k] = pulumi.String(v)
		}
		return m
	}
	n.VPC, err = ec2.NewVpc(ctx, name, &ec2.VpcArgs{
		CidrBlock:          pulumi.String(cfg.Network.VPCCIDR),
		EnableDnsHostnames: pulumi.Bool(true),
		EnableDnsSupport:   pulumi.Bool(true),
		Tags:               tags(map[string]string{"Name": cfg.ClusterName}),
	}, parent, pulumi.Protect(cfg.Protect))
	if err != nil {
		return nil, fmt.Errorf("vpc: %w", err)
	}
	n.VPCID = n.VPC.ID().ToStringOutput()
	subnetDeps := []pulumi.Resource{}
	if cfg.Network.PodCIDR != "" {
		n.SecondaryCIDR, err = ec2.NewVpcIpv4CidrBlockAssociation(ctx, name+"-pods", &ec2.VpcIpv4CidrBlockAssociationArgs{
			VpcId: n.VPC.ID(), CidrBlock: pulumi.String(cfg.Network.PodCIDR),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("secondary cidr %s: %w", cfg.Network.PodCIDR, err)
		}
		subnetDeps = append(subnetDeps, n.SecondaryCIDR)
	}
	for _, sn := range layout.Subnets {
		s, err := ec2.NewSubnet(ctx, name+"-"+sn.Name, &ec2.SubnetArgs{
			VpcId:               n.VPC.ID(),
			CidrBlock:           pulumi.String(sn.CIDR),
			AvailabilityZone:    pulumi.String(sn.AZ),
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags:                tags(SubnetTags(cfg.ClusterName, sn)),
		}, parent, pulumi.DependsOn(subnetDeps))
		if err != nil {
			return nil, fmt.Errorf("subnet %s %s: %w", sn.Name, sn.CIDR, err)
		}
		n.Subnets[sn.Name] = s
		switch sn.Role {
		case cidrplan.Public:
			n.PublicSubnetIDs = append(n.PublicSubnetIDs, s.ID())
		case cidrplan.Private:
			n.PrivateSubnetIDs = append(n.PrivateSubnetIDs, s.ID())
		case cidrplan.Pod:
			n.PodSubnetIDs = append(n.PodSubnetIDs, s.ID())
		}
		if sn.Reservation != "" {
			r, err := ec2.NewSubnetCidrReservation(ctx, name+"-"+sn.Name+"-prefixes", &ec2.SubnetCidrReservationArgs{
				SubnetId:        s.ID(),
				CidrBlock:       pulumi.String(sn.Reservation),
				ReservationType: pulumi.String("prefix"),
				Description:     pulumi.String("eksnet: /28 prefixes for pods"),
			}, parent)
			if err != nil {
				return nil, fmt.Errorf("prefix reservation %s in %s: %w", sn.Reservation, sn.Name, err)
			}
			n.Reservations = append(n.Reservations, r)
		}
	}
	if err := n.routes(ctx, name, cfg, tags, parent); err != nil {
		return nil, err
	}
	if cfg.Network.NAT == stacks.NATNone {
		var rts pulumi.StringArray
		for _, az := range cfg.AZs() {
			rts = append(rts, n.RouteTables["private-"+az].ID())
		}
		if err := n.privateEndpoints(ctx, name, cfg.ClusterName, privateEndpointsArgs{
			Region: cfg.Region, VPCID: n.VPCID, CIDRs: pulumi.ToStringArray(n.CIDRs), SubnetIDs: n.PrivateSubnetIDs, RouteTableIDs: rts, Tags: tags,
		}, parent); err != nil {
			return nil, err
		}
	}
	return n, n.registerOutputs(ctx)
}

func (n *Network) registerOutputs(ctx *pulumi.Context) error {
	if err := ctx.RegisterResourceOutputs(n, pulumi.Map{
		"vpcId":            n.VPCID,
		"publicSubnetIds":  n.PublicSubnetIDs,
		"privateSubnetIds": n.PrivateSubnetIDs,
		"podSubnetIds":     n.PodSubnetIDs,
	}); err != nil {
		return fmt.Errorf("register network outputs: %w", err)
	}
	return nil
}

// SubnetID is the ID of the layout's subnet name: the created subnet's, or
// the name itself in an existing VPC.
func (n *Network) SubnetID(name string) pulumi.StringOutput {
	if s, ok := n.Subnets[name]; ok {
		return s.ID().ToStringOutput()
	}
	return pulumi.String(name).ToStringOutput()
}

// routes wires the internet gateway, the NAT gateways and the route
// tables: public subnets share one table to the IGW; each AZ's private
// and pod subnets share a table whose default route is the NAT gateway
// of that AZ (per-az), the only one (single), or absent (none).
func (n *Network) routes(ctx *pulumi.Context, name string, cfg stacks.Config, tags func(map[string]string) pulumi.StringMap, parent pulumi.ResourceOption) error {
	public := n.Layout.ByRole(cidrplan.Public)
	if len(public) > 0 {
		igw, err := ec2.NewInternetGateway(ctx, name, &ec2.InternetGatewayArgs{VpcId: n.VPC.ID(), Tags: tags(map[string]string{"Name": cfg.ClusterName})}, parent)
		if err != nil {
			return fmt.Errorf("internet gateway: %w", err)
		}
		n.InternetGateway = igw
		rt, err := ec2.NewRouteTable(ctx, name+"-public", &ec2.RouteTableArgs{
			VpcId:  n.VPC.ID(),
			Routes: ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), GatewayId: igw.ID()}},
			Tags:   tags(map[string]string{"Name": cfg.ClusterName + "-public"}),
		}, parent)
		if err != nil {
			return fmt.Errorf("public route table: %w", err)
		}
		n.RouteTables["public"] = rt
		for _, sn := range public {
			if _, err := ec2.NewRouteTableAssociation(ctx, name+"-"+sn.Name, &ec2.RouteTableAssociationArgs{SubnetId: n.Subnets[sn.Name].ID(), RouteTableId: rt.ID()}, parent); err != nil {
				return fmt.Errorf("associate %s: %w", sn.Name, err)
			}
		}
	}
	natByAZ := map[string]*ec2.NatGateway{}
	if cfg.Network.NAT != stacks.NATNone {
		for i, sn := range public {
			if cfg.Network.NAT == stacks.NATSingle && i > 0 {
				break
			}
			eip, err := ec2.NewEip(ctx, name+"-nat-"+sn.AZ, &ec2.EipArgs{Domain: pulumi.String("vpc"), Tags: tags(map[string]string{"Name": cfg.ClusterName + "-nat-" + sn.AZ})}, parent)
			if err != nil {
				return fmt.Errorf("nat eip %s: %w", sn.AZ, err)
			}
			nat, err := ec2.NewNatGateway(ctx, name+"-nat-"+sn.AZ, &ec2.NatGatewayArgs{
				AllocationId: eip.ID(), SubnetId: n.Subnets[sn.Name].ID(),
				Tags: tags(map[string]string{"Name": cfg.ClusterName + "-nat-" + sn.AZ}),
			}, parent, pulumi.DependsOn([]pulumi.Resource{n.InternetGateway}))
			if err != nil {
				return fmt.Errorf("nat gateway %s: %w", sn.AZ, err)
			}
			n.NATGateways = append(n.NATGateways, nat)
			natByAZ[sn.AZ] = nat
		}
	}
	for _, az := range cfg.AZs() {
		var routes ec2.RouteTableRouteArray
		nat := natByAZ[az]
		if nat == nil && len(n.NATGateways) > 0 {
			nat = n.NATGateways[0]
		}
		if nat != nil {
			routes = append(routes, ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), NatGatewayId: nat.ID()})
		}
		rt, err := ec2.NewRouteTable(ctx, name+"-private-"+az, &ec2.RouteTableArgs{
			VpcId: n.VPC.ID(), Routes: routes, Tags: tags(map[string]string{"Name": cfg.ClusterName + "-private-" + az}),
		}, parent)
		if err != nil {
			return fmt.Errorf("private route table %s: %w", az, err)
		}
		n.RouteTables["private-"+az] = rt
		for _, sn := range n.Layout.Subnets {
			if sn.AZ != az || sn.Role == cidrplan.Public {
				continue
			}
			if _, err := ec2.NewRouteTableAssociation(ctx, name+"-"+sn.Name, &ec2.RouteTableAssociationArgs{SubnetId: n.Subnets[sn.Name].ID(), RouteTableId: rt.ID()}, parent); err != nil {
				return fmt.Errorf("associate %s: %w", sn.Name, err)
			}
		}
	}
	return nil
}
