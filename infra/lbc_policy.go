package infra

import "fmt"

// LoadBalancerControllerPolicy is the IAM policy of the AWS Load Balancer
// Controller, written out from what the controller calls: reads are
// unscoped (AWS offers no resource-level scoping for them), every
// mutation of security groups, load balancers and target groups is limited
// to resources the controller tagged with elbv2.k8s.aws/cluster, and tags
// can only be added at creation or on those resources.
func LoadBalancerControllerPolicy(partition string) PolicyDocument {
	const tag = "elbv2.k8s.aws/cluster"
	requestTagged := map[string]map[string]any{"Null": {"aws:RequestTag/" + tag: "false"}}
	resourceTagged := map[string]map[string]any{"Null": {"aws:ResourceTag/" + tag: "false"}}
	elb := func(kind string) string {
		return fmt.Sprintf("arn:%s:elasticloadbalancing:*:*:%s", partition, kind)
	}
	sg := fmt.Sprintf("arn:%s:ec2:*:*:security-group/*", partition)
	lbAndTG := []string{elb("targetgroup/*/*"), elb("loadbalancer/net/*/*"), elb("loadbalancer/app/*/*")}
	return PolicyDocument{Version: "2012-10-17", Statement: []Statement{
		{Sid: "ServiceLinkedRole", Effect: "Allow", Action: []string{"iam:CreateServiceLinkedRole"}, Resource: []string{"*"},
			Condition: map[string]map[string]any{"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}},
		{Sid: "Read", Effect: "Allow", Resource: []string{"*"}, Action: []string{
			"ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones", "ec2:DescribeInternetGateways",
			"ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
			"ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:DescribeRouteTables",
			"ec2:GetCoipPoolUsage", "ec2:DescribeCoipPools", "ec2:GetSecurityGroupsForVpc", "ec2:DescribeIpamPools",
			"elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
			"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
			"elasticloadbalancing:DescribeListenerAttributes", "elasticloadbalancing:DescribeSSLPolicies",
			"elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTargetGroups",
			"elasticloadbalancing:DescribeTargetGroupAttributes", "elasticloadbalancing:DescribeTargetHealth",
			"elasticloadbalancing:DescribeTags", "elasticloadbalancing:DescribeTrustStores",
			"elasticloadbalancing:DescribeCapacityReservation",
			"cognito-idp:DescribeUserPoolClient", "acm:ListCertificates", "acm:DescribeCertificate",
			"iam:ListServerCertificates", "iam:GetServerCertificate",
			"wafv2:GetWebACL", "wafv2:GetWebACLForResource", "waf-regional:GetWebACL", "waf-regional:GetWebACLForResource",
			"shield:GetSubscriptionState", "shield:DescribeProtection",
		}},
		{Sid: "WAFAndShield", Effect: "Allow", Resource: []string{"*"}, Action: []string{
			"wafv2:AssociateWebACL", "wafv2:DisassociateWebACL", "waf-regional:AssociateWebACL", "waf-regional:DisassociateWebACL",
			"shield:CreateProtection", "shield:DeleteProtection",
		}},
		{Sid: "CreateSecurityGroup", Effect: "Allow", Action: []string{"ec2:CreateSecurityGroup"}, Resource: []string{"*"}},
		{Sid: "TagNewSecurityGroup", Effect: "Allow", Action: []string{"ec2:CreateTags"}, Resource: []string{sg},
			Condition: map[string]map[string]any{"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, "Null": {"aws:RequestTag/" + tag: "false"}}},
		{Sid: "RetagOwnSecurityGroups", Effect: "Allow", Action: []string{"ec2:CreateTags", "ec2:DeleteTags"}, Resource: []string{sg},
			Condition: map[string]map[string]any{"Null": {"aws:RequestTag/" + tag: "true", "aws:ResourceTag/" + tag: "false"}}},
		{Sid: "ManageOwnSecurityGroups", Effect: "Allow", Resource: []string{"*"}, Condition: resourceTagged,
			Action: []string{"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"}},
		{Sid: "CreateTaggedLoadBalancers", Effect: "Allow", Resource: []string{"*"}, Condition: requestTagged,
			Action: []string{"elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"}},
		{Sid: "ListenersAndRules", Effect: "Allow", Resource: []string{"*"}, Action: []string{
			"elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener", "elasticloadbalancing:CreateRule",
			"elasticloadbalancing:DeleteRule", "elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule",
			"elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
			"elasticloadbalancing:SetWebAcl",
		}},
		{Sid: "RetagOwnLoadBalancers", Effect: "Allow", Resource: lbAndTG,
			Condition: map[string]map[string]any{"Null": {"aws:RequestTag/" + tag: "true", "aws:ResourceTag/" + tag: "false"}},
			Action:    []string{"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"}},
		{Sid: "TagOnCreate", Effect: "Allow", Resource: lbAndTG, Action: []string{"elasticloadbalancing:AddTags"},
			Condition: map[string]map[string]any{"StringEquals": {"elasticloadbalancing:CreateAction": []string{"CreateTargetGroup", "CreateLoadBalancer"}}, "Null": {"aws:RequestTag/" + tag: "false"}}},
		{Sid: "ManageOwnLoadBalancers", Effect: "Allow", Resource: []string{"*"}, Condition: resourceTagged, Action: []string{
			"elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
			"elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
			"elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
			"elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
			"elasticloadbalancing:ModifyListenerAttributes", "elasticloadbalancing:ModifyCapacityReservation",
		}},
		{Sid: "Targets", Effect: "Allow", Resource: []string{elb("targetgroup/*/*")},
			Action: []string{"elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"}},
	}}
}
