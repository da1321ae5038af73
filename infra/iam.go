package infra

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TagCluster is the tag the agent puts on the ENIs it creates (and the
// launch template puts on instances and their primary ENIs); the agent's
// IAM policy only lets it touch ENIs and instances carrying it with the
// cluster's name.
const TagCluster = "eksnet.io/cluster"

// PolicyDocument is an IAM policy, typed so tests read it back.
type PolicyDocument struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one IAM policy statement.
type Statement struct {
	Sid       string                    `json:"Sid,omitempty"`
	Effect    string                    `json:"Effect"`
	Principal map[string]string         `json:"Principal,omitempty"`
	Action    []string                  `json:"Action"`
	Resource  []string                  `json:"Resource,omitempty"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

// UnmarshalJSON reads a statement as IAM writes it: Action and Resource
// are a string or a list of strings.
func (s *Statement) UnmarshalJSON(b []byte) error {
	type plain Statement
	var raw struct {
		plain
		Action   json.RawMessage `json:"Action"`
		Resource json.RawMessage `json:"Resource"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*s = Statement(raw.plain)
	var err error
	if s.Action, err = stringOrList(raw.Action); err != nil {
		return fmt.Errorf("statement %q action: %w", s.Sid, err)
	}
	if s.Resource, err = stringOrList(raw.Resource); err != nil {
		return fmt.Errorf("statement %q resource: %w", s.Sid, err)
	}
	return nil
}

func stringOrList(b json.RawMessage) ([]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var one string
	if json.Unmarshal(b, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("want a string or a list of strings: %w", err)
	}
	return list, nil
}

// JSON renders the document.
func (d PolicyDocument) JSON() string {
	b, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("infra: policy document is plain data and must encode: %v", err))
	}
	return string(b)
}

// Partition returns the AWS partition of a region (aws, aws-cn, aws-us-gov).
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// AgentPolicy is the EC2 access the eksnet agent needs on a node, at least
// privilege: every action listed (no ec2:* or Describe*), ENI creation only
// with the cluster tag in the request and only in the stack's VPC, and
// every mutation only on ENIs and instances carrying that tag.
func AgentPolicy(partition, region, clusterName, vpcID string) PolicyDocument {
	arn := func(kind string) string { return fmt.Sprintf("arn:%s:ec2:%s:*:%s/*", partition, region, kind) }
	vpcArn := fmt.Sprintf("arn:%s:ec2:%s:*:vpc/%s", partition, region, vpcID)
	ownENI := map[string]map[string]any{"StringEquals": {"ec2:ResourceTag/" + TagCluster: clusterName}}
	return PolicyDocument{Version: "2012-10-17", Statement: []Statement{
		{
			Sid: "Describe", Effect: "Allow",
			// Describe calls support no resource-level scoping in EC2. The
			// agent reads instance and subnet facts from IMDS, so it only
			// describes interfaces (reconciliation, leaked-ENI collection).
			Action:   []string{"ec2:DescribeNetworkInterfaces"},
			Resource: []string{"*"},
		},
		{
			Sid: "CreateTaggedENI", Effect: "Allow",
			Action:    []string{"ec2:CreateNetworkInterface"},
			Resource:  []string{arn("network-interface")},
			Condition: map[string]map[string]any{"StringEquals": {"aws:RequestTag/" + TagCluster: clusterName}},
		},
		{
			Sid: "CreateENIInStackVPC", Effect: "Allow",
			Action:    []string{"ec2:CreateNetworkInterface"},
			Resource:  []string{arn("subnet"), arn("security-group")},
			Condition: map[string]map[string]any{"ArnEquals": {"ec2:Vpc": vpcArn}},
		},
		{
			Sid: "TagOnCreateOnly", Effect: "Allow",
			Action:    []string{"ec2:CreateTags"},
			Resource:  []string{arn("network-interface")},
			Condition: map[string]map[string]any{"StringEquals": {"ec2:CreateAction": "CreateNetworkInterface"}},
		},
		{
			Sid: "ManageOwnENIs", Effect: "Allow",
			Action: []string{"ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface", "ec2:DeleteNetworkInterface",
				"ec2:ModifyNetworkInterfaceAttribute", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"},
			Resource:  []string{arn("network-interface")},
			Condition: ownENI,
		},
		{
			Sid: "AttachToClusterInstances", Effect: "Allow",
			Action:   []string{"ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface"},
			Resource: []string{arn("instance")},
			// The launch template tags instances with the cluster tag too.
			Condition: ownENI,
		},
	}}
}

// AssumeRoleForService is the trust policy letting an AWS service assume a role.
func AssumeRoleForService(service string) PolicyDocument {
	return PolicyDocument{Version: "2012-10-17", Statement: []Statement{{
		Effect: "Allow", Principal: map[string]string{"Service": service}, Action: []string{"sts:AssumeRole"},
	}}}
}

// IRSATrust is the trust policy binding a role to exactly one Kubernetes
// service account through the cluster's OIDC provider.
func IRSATrust(oidcProviderArn, oidcIssuerURL, namespace, serviceAccount string) PolicyDocument {
	issuer := strings.TrimPrefix(oidcIssuerURL, "https://")
	return PolicyDocument{Version: "2012-10-17", Statement: []Statement{{
		Effect:    "Allow",
		Principal: map[string]string{"Federated": oidcProviderArn},
		Action:    []string{"sts:AssumeRoleWithWebIdentity"},
		Condition: map[string]map[string]any{"StringEquals": {
			issuer + ":sub": "system:serviceaccount:" + namespace + ":" + serviceAccount,
			issuer + ":aud": "sts.amazonaws.com",
		}},
	}}}
}

// NodeIAM is the node role and what is attached to it.
type NodeIAM struct {
	pulumi.ResourceState
	Role        *iam.Role
	Attachments []*iam.RolePolicyAttachment
	// AgentPolicy is the agent's inline EC2 policy (agent mode only).
	AgentPolicy *iam.RolePolicy
}

// NodeIAMArgs configure NewNodeIAM.
type NodeIAMArgs struct {
	ClusterName string
	Region      string
	VPCID       pulumi.StringOutput
	// Agent adds the agent's EC2 policy; otherwise the AWS VPC CNI managed
	// policy is attached (aws-node uses the node role: its IRSA role would
	// need the OIDC provider the cluster creates, after VpcCniOptions).
	Agent bool
	// AgentBucketArn lets nodes read the node bundles (agent + CNI plugin), and nothing else.
	AgentBucketArn pulumi.StringOutput
}

// NewNodeIAM creates the node role with least privilege: the EKS worker
// and ECR pull-only managed policies, plus the CNI's EC2 access.
func NewNodeIAM(ctx *pulumi.Context, name string, args NodeIAMArgs, opts ...pulumi.ResourceOption) (*NodeIAM, error) {
	c := &NodeIAM{}
	if err := ctx.RegisterComponentResource("eksnet:infra:NodeIAM", name, c, opts...); err != nil {
		return nil, fmt.Errorf("register node iam %s: %w", name, err)
	}
	parent := pulumi.Parent(c)
	var err error
	c.Role, err = iam.NewRole(ctx, name+"-node", &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(AssumeRoleForService("ec2.amazonaws.com").JSON()),
		Description:      pulumi.String("eksnet nodes of cluster " + args.ClusterName),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("node role: %w", err)
	}
	p := Partition(args.Region)
	managed := []string{"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly"}
	if !args.Agent {
		managed = append(managed, "AmazonEKS_CNI_Policy")
	}
	for _, m := range managed {
		a, err := iam.NewRolePolicyAttachment(ctx, name+"-"+strings.ToLower(m), &iam.RolePolicyAttachmentArgs{
			Role: c.Role.Name, PolicyArn: pulumi.String(fmt.Sprintf("arn:%s:iam::aws:policy/%s", p, m)),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("attach %s: %w", m, err)
		}
		c.Attachments = append(c.Attachments, a)
	}
	if args.Agent {
		doc := pulumi.All(args.VPCID, args.AgentBucketArn).ApplyT(func(v []any) string {
			d := AgentPolicy(p, args.Region, args.ClusterName, v[0].(string))
			d.Statement = append(d.Statement, Statement{
				Sid: "ReadAgentBinaries", Effect: "Allow", Action: []string{"s3:GetObject"},
				Resource: []string{v[1].(string) + "/*"},
			})
			return d.JSON()
		}).(pulumi.StringOutput)
		c.AgentPolicy, err = iam.NewRolePolicy(ctx, name+"-agent", &iam.RolePolicyArgs{Role: c.Role.Name, Policy: doc}, parent)
		if err != nil {
			return nil, fmt.Errorf("agent policy: %w", err)
		}
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"roleArn": c.Role.Arn}); err != nil {
		return nil, fmt.Errorf("register node iam outputs: %w", err)
	}
	return c, nil
}
