package infra

import (
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/eksnet/eksnet/bootstrap/userdata"
	"github.com/eksnet/eksnet/stacks"
)

// AMIParameter is the public SSM parameter holding the recommended
// EKS-optimized AMI for a Kubernetes version, OS and architecture.
func AMIParameter(version, os, arch string) (string, error) {
	cpu := map[string]string{"amd64": "x86_64", "arm64": "arm64"}[arch]
	if cpu == "" {
		return "", fmt.Errorf("ami parameter: architecture %q: accepted values are amd64, arm64", arch)
	}
	if err := stacks.AMIPublished(os, version); err != nil {
		return "", fmt.Errorf("ami parameter: %w", err)
	}
	switch os {
	case "al2023":
		return fmt.Sprintf("/aws/service/eks/optimized-ami/%s/amazon-linux-2023/%s/standard/recommended/image_id", version, cpu), nil
	case "al2":
		suffix := ""
		if arch == "arm64" {
			suffix = "-arm64"
		}
		return fmt.Sprintf("/aws/service/eks/optimized-ami/%s/amazon-linux-2%s/recommended/image_id", version, suffix), nil
	case "bottlerocket":
		// AWS names the architectures x86_64 and arm64 here too.
		return fmt.Sprintf("/aws/service/bottlerocket/aws-k8s-%s/%s/latest/image_id", version, cpu), nil
	}
	return "", fmt.Errorf("ami parameter: os %q: accepted values are al2023, al2, bottlerocket", os)
}

// NodeUserData is the glue between the stack and bootstrap/userdata: it
// builds the user-data Config for one node group from the stack settings,
// the computed max pods, the cluster access details and the agent URLs.
func NodeUserData(cfg stacks.Config, ng stacks.NodeGroup, pods stacks.GroupPods, endpoint, ca string, agentURLs map[string]string, agentSums map[string]string) (userdata.Config, error) {
	c := userdata.Config{
		OS:                    userdata.OS(ng.OS),
		ClusterName:           cfg.ClusterName,
		Endpoint:              endpoint,
		CertificateAuthority:  ca,
		ServiceCIDR:           cfg.Cluster.ServiceCIDR,
		MaxPods:               pods.Result.MaxPods,
		KubeReservedMemoryMiB: pods.Result.KubeReservedMemoryMiB,
		CNI:                   userdata.CNI(cfg.CNI.Mode),
		PrefixDelegation:      cfg.CNI.PrefixDelegation,
		// kubelet registers these itself, so they hold before EKS applies
		// the managed node group's copy (see the package doc).
		NodeLabels: ng.Labels,
		// Registered by kubelet too, so nothing intolerant lands first.
		NodeTaints: ng.KubeletTaints(),
	}
	if cfg.CNI.Mode == stacks.CNIAgent {
		url, sum := agentURLs[pods.Arch], agentSums[pods.Arch]
		if url == "" || sum == "" {
			return userdata.Config{}, fmt.Errorf("node group %s: no node bundle for %s (eksnet:cni.agent.%sPath; build it with eksnet bundle --arch %s)", ng.Name, pods.Arch, pods.Arch, pods.Arch)
		}
		c.Agent = userdata.AgentConfig{
			// Only the group's architecture: the launch template pins one AMI.
			Binaries:         map[string]userdata.AgentBinary{pods.Arch: {URL: url, SHA256: sum}},
			WarmIPTarget:     cfg.CNI.WarmIPTarget,
			MinimumIPTarget:  cfg.CNI.MinimumIPTarget,
			WarmPrefixTarget: cfg.CNI.WarmPrefixTarget,
			WarmENITarget:    cfg.CNI.WarmENITarget,
			MaxENI:           cfg.CNI.MaxENI,
			ExternalSNAT:     cfg.CNI.ExternalSNAT,
			// kubelet's max pods counts them: the agent must not give them addresses.
			HostNetworkDaemonSets: ng.HostNetworkDaemonSets,
		}
	}
	return c, c.Validate()
}

// NodeGroup is one EKS managed node group and its launch template.
type NodeGroup struct {
	pulumi.ResourceState
	// AMIParameter is the SSM parameter of the recommended AMI.
	AMIParameter string
	// AMI is the pinned eksnet:nodeGroups[i].amiId, else the parameter's value.
	AMI            string
	LaunchTemplate *ec2.LaunchTemplate
	Group          *awseks.NodeGroup
	Pods           stacks.GroupPods
	// UserData is the rendered (not base64) user data.
	UserData pulumi.StringOutput
}

// NodeGroupArgs configure NewNodeGroup.
type NodeGroupArgs struct {
	Spec      stacks.NodeGroup
	Pods      stacks.GroupPods
	Cluster   *Cluster
	NodeRole  *iam.Role
	SubnetIDs pulumi.StringArray
	// Agent is the agent bundle in agent mode, else nil.
	Agent *AgentBundle
	// DependsOn is what must exist before any node boots (the cluster
	// component with its VPC CNI configuration, the agent objects, IAM).
	DependsOn []pulumi.Resource
}

// NewNodeGroup creates the launch template and the managed node group.
func NewNodeGroup(ctx *pulumi.Context, name string, cfg stacks.Config, args NodeGroupArgs, opts ...pulumi.ResourceOption) (*NodeGroup, error) {
	ng := args.Spec
	c := &NodeGroup{Pods: args.Pods}
	if err := ctx.RegisterComponentResource("eksnet:infra:NodeGroup", name, c, opts...); err != nil {
		return nil, fmt.Errorf("register node group %s: %w", name, err)
	}
	parent := pulumi.Parent(c)
	param, err := AMIParameter(cfg.KubernetesVersion, ng.OS, args.Pods.Arch)
	if err != nil {
		return nil, fmt.Errorf("node group %s: %w", ng.Name, err)
	}
	c.AMIParameter, c.AMI = param, ng.AMIID
	if ng.AMIID == "" {
		ami, err := ssm.LookupParameter(ctx, &ssm.LookupParameterArgs{Name: param})
		if err != nil {
			return nil, fmt.Errorf("node group %s: look up AMI parameter %s: %w", ng.Name, param, err)
		}
		c.AMI = ami.Value
	}

	urls := pulumi.StringMap{}.ToStringMapOutput()
	sums := map[string]string{}
	if args.Agent != nil {
		urls = args.Agent.URLs
		for _, b := range args.Agent.Binaries {
			sums[b.Arch] = b.SHA256
		}
	}
	c.UserData = pulumi.All(args.Cluster.Access, urls).ApplyT(func(v []any) (string, error) {
		access, agentURLs := v[0].(map[string]string), v[1].(map[string]string)
		udc, err := NodeUserData(cfg, ng, args.Pods, access["endpoint"], access["ca"], agentURLs, sums)
		if err != nil {
			return "", fmt.Errorf("node group %s user data: %w", ng.Name, err)
		}
		return userdata.Render(udc)
	}).(pulumi.StringOutput)

	device := "/dev/xvda"
	if ng.OS == "bottlerocket" {
		device = "/dev/xvdb" // the data volume; xvda is the read-only OS image
	}
	tags := pulumi.StringMap{"eksnet.io/stack": pulumi.String(cfg.Env), "eksnet.io/nodegroup": pulumi.String(ng.Name)}
	c.LaunchTemplate, err = ec2.NewLaunchTemplate(ctx, name, &ec2.LaunchTemplateArgs{
		Description: pulumi.String(fmt.Sprintf("eksnet %s/%s: %s, max pods %d", cfg.ClusterName, ng.Name, ng.OS, args.Pods.Result.MaxPods)),
		ImageId:     pulumi.String(c.AMI),
		UserData: c.UserData.ApplyT(func(s string) string {
			return base64.StdEncoding.EncodeToString([]byte(s))
		}).(pulumi.StringOutput),
		// IMDSv2 only, and a hop limit of 1 so pods (one hop further) cannot
		// reach the node's credentials; the agent runs on the host.
		MetadataOptions: &ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(1),
		},
		BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{ec2.LaunchTemplateBlockDeviceMappingArgs{
			DeviceName: pulumi.String(device),
			Ebs: &ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
				VolumeSize: pulumi.Int(ng.DiskSizeGiB), VolumeType: pulumi.String("gp3"),
				Encrypted: pulumi.String("true"), DeleteOnTermination: pulumi.String("true"),
			},
		}},
		TagSpecifications: ec2.LaunchTemplateTagSpecificationArray{
			ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("instance"), Tags: withTag(tags, TagCluster, cfg.ClusterName)},
			// The primary ENI carries the cluster tag so the agent's policy
			// lets it assign secondary addresses there too.
			ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("network-interface"), Tags: pulumi.StringMap{TagCluster: pulumi.String(cfg.ClusterName)}},
		},
		UpdateDefaultVersion: pulumi.Bool(true),
		Tags:                 tags,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("node group %s launch template: %w", ng.Name, err)
	}

	labels := pulumi.StringMap{LabelCNI: pulumi.String(cfg.CNI.Mode)}
	for k, v := range ng.Labels {
		labels[k] = pulumi.String(v)
	}
	var taints awseks.NodeGroupTaintArray
	for _, t := range ng.Taints {
		taints = append(taints, awseks.NodeGroupTaintArgs{Key: pulumi.String(t.Key), Value: pulumi.String(t.Value), Effect: pulumi.String(t.Effect)})
	}
	c.Group, err = awseks.NewNodeGroup(ctx, name, &awseks.NodeGroupArgs{
		ClusterName:         args.Cluster.Name,
		NodeGroupNamePrefix: pulumi.String(ng.Name + "-"),
		NodeRoleArn:         args.NodeRole.Arn,
		SubnetIds:           args.SubnetIDs,
		InstanceTypes:       pulumi.ToStringArray(ng.InstanceTypes),
		CapacityType:        pulumi.String(ng.CapacityType),
		ScalingConfig: awseks.NodeGroupScalingConfigArgs{
			MinSize: pulumi.Int(ng.MinSize), DesiredSize: pulumi.Int(ng.DesiredSize), MaxSize: pulumi.Int(ng.MaxSize),
		},
		UpdateConfig: awseks.NodeGroupUpdateConfigArgs{MaxUnavailablePercentage: pulumi.Int(33)},
		LaunchTemplate: awseks.NodeGroupLaunchTemplateArgs{
			Id:      c.LaunchTemplate.ID(),
			Version: c.LaunchTemplate.LatestVersion.ApplyT(func(v int) string { return strconv.Itoa(v) }).(pulumi.StringOutput),
		},
		Labels: labels,
		Taints: taints,
		Tags:   tags,
	}, parent, pulumi.DependsOn(args.DependsOn), ignoreDesiredSize(ng))
	if err != nil {
		return nil, fmt.Errorf("node group %s: %w", ng.Name, err)
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"launchTemplateId": c.LaunchTemplate.ID(), "nodeGroupName": c.Group.NodeGroupName, "maxPods": pulumi.Int(args.Pods.Result.MaxPods),
	}); err != nil {
		return nil, fmt.Errorf("register node group outputs: %w", err)
	}
	return c, nil
}

// ignoreDesiredSize leaves the desired size to the autoscaler after
// creation when the node group declares one; without one, ignoring it
// would freeze the group at its first size.
func ignoreDesiredSize(ng stacks.NodeGroup) pulumi.ResourceOption {
	if !ng.Autoscaled {
		return pulumi.IgnoreChanges(nil)
	}
	return pulumi.IgnoreChanges([]string{"scalingConfig.desiredSize"})
}

func withTag(m pulumi.StringMap, k, v string) pulumi.StringMap {
	out := pulumi.StringMap{k: pulumi.String(v)}
	for key, val := range m {
		out[key] = val
	}
	return out
}
