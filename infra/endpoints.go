package infra

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/eksnet/eksnet/stacks"
)

// endpointResourceName is the Pulumi name of service's endpoint.
func endpointResourceName(name, service string) string {
	return name + "-endpoint-" + strings.ReplaceAll(service, ".", "-")
}

// privateEndpointsArgs are what the endpoints attach to.
type privateEndpointsArgs struct {
	Region string
	VPCID  pulumi.StringOutput
	// CIDRs are the VPC's IPv4 blocks: every node and pod address may call
	// an endpoint.
	CIDRs         pulumi.StringArrayInput
	SubnetIDs     pulumi.StringArrayInput // one private subnet per AZ
	RouteTableIDs pulumi.StringArrayInput // the private route tables
	Tags          func(map[string]string) pulumi.StringMap
}

// privateEndpoints creates stacks.PrivateEndpoints: interface endpoints in the
// private subnets with private DNS, so the SDKs' default public names
// resolve to them, behind a security group that admits HTTPS from the
// VPC; the S3 gateway on the private route tables.
func (n *Network) privateEndpoints(ctx *pulumi.Context, name, clusterName string, a privateEndpointsArgs, parent pulumi.ResourceOption) error {
	sg, err := ec2.NewSecurityGroup(ctx, name+"-endpoints", &ec2.SecurityGroupArgs{
		VpcId:       a.VPCID,
		Description: pulumi.String("eksnet: HTTPS from the VPC to its interface endpoints"),
		Ingress: ec2.SecurityGroupIngressArray{ec2.SecurityGroupIngressArgs{
			Protocol: pulumi.String("tcp"), FromPort: pulumi.Int(443), ToPort: pulumi.Int(443),
			CidrBlocks: a.CIDRs, Description: pulumi.String("HTTPS from the VPC"),
		}},
		Tags: a.Tags(map[string]string{"Name": clusterName + "-endpoints"}),
	}, parent)
	if err != nil {
		return fmt.Errorf("endpoint security group: %w", err)
	}
	n.EndpointSecurityGroup = sg
	for _, e := range stacks.PrivateEndpoints {
		args := &ec2.VpcEndpointArgs{
			VpcId:           a.VPCID,
			ServiceName:     pulumi.String(stacks.EndpointServiceName(a.Region, e.Service)),
			VpcEndpointType: pulumi.String(e.Type),
			Tags:            a.Tags(map[string]string{"Name": clusterName + "-" + e.Service}),
		}
		switch e.Type {
		case stacks.EndpointGateway:
			args.RouteTableIds = a.RouteTableIDs
		default:
			args.SubnetIds = a.SubnetIDs
			args.SecurityGroupIds = pulumi.StringArray{sg.ID()}
			args.PrivateDnsEnabled = pulumi.Bool(true)
		}
		ep, err := ec2.NewVpcEndpoint(ctx, endpointResourceName(name, e.Service), args, parent)
		if err != nil {
			return fmt.Errorf("vpc endpoint %s: %w", e.Service, err)
		}
		n.Endpoints = append(n.Endpoints, ep)
	}
	return nil
}
