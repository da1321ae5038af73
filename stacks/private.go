package stacks

import (
	"fmt"
	"strings"
)

// validatePrivateOnly checks a stack whose private subnets have no NAT
// (eksnet:network.nat none). The program then creates the VPC endpoints
// AWS lists for clusters without outbound internet access (see
// PrivateEndpoints), and AWS's list has requirements besides: nodes
// register only through the private API endpoint, and whatever pulls from
// a public registry or calls an AWS API without an endpoint cannot run.
func (c Config) validatePrivateOnly() []error {
	var errs []error
	if !c.Cluster.EndpointPrivateAccess {
		errs = append(errs, fmt.Errorf("eksnet:cluster.endpointPrivateAccess false with eksnet:network.nat none: nodes without outbound internet access register with the cluster only through the private endpoint; set cluster.endpointPrivateAccess true, or network.nat single or per-az"))
	}
	if c.Addons.LoadBalancerController {
		errs = append(errs, fmt.Errorf("eksnet:addons.loadBalancerController true with eksnet:network.nat none: the controller's chart and image come from outside the VPC and it calls AWS APIs this stack creates no endpoints for (elasticloadbalancing, WAF, Shield, ACM); set addons.loadBalancerController false, or network.nat single or per-az"))
	}
	if c.Addons.DemoApp {
		errs = append(errs, fmt.Errorf("eksnet:addons.demoApp true with eksnet:network.nat none: the demo's image is pulled from %s and its ALB needs the load balancer controller; set addons.demoApp false, or network.nat single or per-az", DemoImageRepository))
	}
	return errs
}

// Endpoint types as EC2 spells them.
const (
	EndpointInterface = "Interface"
	EndpointGateway   = "Gateway"
)

// PrivateEndpoint is one VPC endpoint a stack without NAT creates.
type PrivateEndpoint struct {
	// Service is the name after com.amazonaws.REGION. (ecr.dkr, s3).
	Service string
	Type    string
	// Why is what on a private node needs it, for plan and the docs.
	Why string
}

// PrivateEndpoints are the VPC endpoints eksnet:network.nat none creates:
// those the EKS User Guide lists for clusters without outbound internet
// access, less the optional ones and those only the refused add-ons need
// (infra/testdata/eks-private-cluster/endpoints.tsv is the judge;
// infra creates them). S3 is a
// gateway endpoint: free, and ECR's image layers and the agent bundles are
// S3 objects.
var PrivateEndpoints = []PrivateEndpoint{
	{"ec2", EndpointInterface, "the EKS AMI names the node from EC2; the agent manages ENIs"},
	{"ecr.api", EndpointInterface, "image pulls: ECR authorization and manifests"},
	{"ecr.dkr", EndpointInterface, "image pulls: the registry (EKS add-on images)"},
	{"s3", EndpointGateway, "image layers (ECR stores them in S3) and the agent bundles"},
	{"sts", EndpointInterface, "IAM roles for service accounts"},
	{"eks-auth", EndpointInterface, "EKS Pod Identity credentials"},
	{"eks", EndpointInterface, "the EKS API from inside the VPC"},
	{"logs", EndpointInterface, "node and pod logs sent to CloudWatch Logs"},
}

// EndpointServiceName is an endpoint's EC2 service name in region.
func EndpointServiceName(region, service string) string {
	return "com.amazonaws." + region + "." + service
}

// privateEndpointNames lists PrivateEndpoints for messages.
func privateEndpointNames() string {
	var names []string
	for _, e := range PrivateEndpoints {
		n := e.Service
		if e.Type == EndpointGateway {
			n += " (gateway)"
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}
