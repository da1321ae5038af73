package infra

import (
	"encoding/json"
	"fmt"

	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-eks/sdk/v3/go/eks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/eksnet/eksnet/bootstrap/userdata"
	"github.com/eksnet/eksnet/stacks"
)

// LabelCNI marks which CNI a node runs; agent nodes carry LabelCNI=agent.
// The user data sets it through kubelet, the node group repeats it.
const LabelCNI = userdata.LabelCNI

// Cluster is the EKS control plane and its cluster-wide settings.
type Cluster struct {
	pulumi.ResourceState
	// EKS is the pulumi-eks component (a remote component).
	EKS *eks.Cluster
	// SecretsKey is the KMS key for envelope encryption of Secrets, or nil.
	SecretsKey *kms.Key
	// Name resolves to the cluster name once the cluster exists, so
	// resources using it wait for the whole component.
	Name pulumi.StringOutput
	// Access is the endpoint and CA nodes need, from the kubeconfig.
	Access pulumi.StringMapOutput
}

// ClusterArgs configure NewCluster.
type ClusterArgs struct {
	Network  *Network
	NodeRole *iam.Role
}

// VpcCniAddonValues is the vpc-cni add-on configuration. Agent mode keeps
// aws-node off agent nodes with a required node affinity on
// eksnet.io/cni=aws-vpc-cni; aws-vpc-cni mode passes the targets
// VpcCniOptions has no field for.
func VpcCniAddonValues(cfg stacks.Config) map[string]any {
	v := map[string]any{}
	if cfg.CNI.Mode == stacks.CNIAgent {
		v["affinity"] = map[string]any{"nodeAffinity": map[string]any{
			"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
				"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{
					// Setting affinity replaces the add-on's default, so the
					// default's terms are repeated before ours.
					map[string]any{"key": "kubernetes.io/os", "operator": "In", "values": []any{"linux"}},
					map[string]any{"key": "kubernetes.io/arch", "operator": "In", "values": []any{"amd64", "arm64"}},
					map[string]any{"key": "eks.amazonaws.com/compute-type", "operator": "NotIn", "values": []any{"fargate", "hybrid", "auto"}},
					// Positive selection: a node gets aws-node only once it is
					// labelled for the AWS VPC CNI. NotIn agent would let
					// aws-node land on an agent node in the moment between
					// registration and EKS applying the node group's labels.
					map[string]any{"key": LabelCNI, "operator": "In", "values": []any{stacks.CNIAWSVPC}},
				}}},
			},
		}}
		return v
	}
	env := map[string]any{}
	if cfg.CNI.MinimumIPTarget > 0 {
		env["MINIMUM_IP_TARGET"] = fmt.Sprint(cfg.CNI.MinimumIPTarget)
	}
	if cfg.CNI.MaxENI > 0 {
		env["MAX_ENI"] = fmt.Sprint(cfg.CNI.MaxENI)
	}
	if len(env) > 0 {
		v["env"] = env
	}
	return v
}

// vpcCniOptions configures pulumi-eks's vpc-cni add-on at version, with
// the stack's conflict resolution (see AddonResolveOnUpdate).
func vpcCniOptions(cfg stacks.Config, version string) *eks.VpcCniOptionsArgs {
	create, update := pulumiEKSConflicts()
	o := &eks.VpcCniOptionsArgs{
		ConfigurationValues:      pulumi.ToMap(VpcCniAddonValues(cfg)),
		AddonVersion:             pulumi.String(version),
		ResolveConflictsOnCreate: create,
		ResolveConflictsOnUpdate: update,
	}
	if cfg.CNI.Mode == stacks.CNIAgent {
		return o
	}
	o.EnablePrefixDelegation = pulumi.Bool(cfg.CNI.PrefixDelegation)
	o.ExternalSnat = pulumi.Bool(cfg.CNI.ExternalSNAT)
	if cfg.CNI.WarmIPTarget > 0 {
		o.WarmIpTarget = pulumi.Int(cfg.CNI.WarmIPTarget)
	}
	if cfg.CNI.WarmPrefixTarget > 0 {
		o.WarmPrefixTarget = pulumi.Int(cfg.CNI.WarmPrefixTarget)
	}
	if cfg.CNI.WarmENITarget > 0 {
		o.WarmEniTarget = pulumi.Int(cfg.CNI.WarmENITarget)
	}
	if cfg.CustomNetworking() {
		o.CustomNetworkConfig = pulumi.Bool(true)
		o.EniConfigLabelDef = pulumi.String("topology.kubernetes.io/zone")
	}
	return o
}

// NewCluster creates the EKS cluster without its default node group.
func NewCluster(ctx *pulumi.Context, name string, cfg stacks.Config, args ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	c := &Cluster{}
	if err := ctx.RegisterComponentResource("eksnet:infra:Cluster", name, c, opts...); err != nil {
		return nil, fmt.Errorf("register cluster %s: %w", name, err)
	}
	parent := pulumi.Parent(c)
	versions, err := addonVersions(cfg)
	if err != nil {
		return nil, err
	}
	apiMode := eks.AuthenticationModeApi // access entries; the aws-auth ConfigMap is deprecated
	eargs := &eks.ClusterArgs{
		Name:                 pulumi.String(cfg.ClusterName),
		Version:              pulumi.String(cfg.KubernetesVersion),
		VpcId:                args.Network.VPCID,
		PublicSubnetIds:      args.Network.PublicSubnetIDs,
		PrivateSubnetIds:     args.Network.PrivateSubnetIDs,
		SkipDefaultNodeGroup: pulumi.BoolRef(true),
		// Managed node groups whose launch template names no security
		// group get the security group EKS creates for the cluster; the
		// groups pulumi-eks would add are attached to nothing we run. With
		// them skipped, ClusterSecurityGroupId is EKS's group, the one the
		// nodes carry, which is what pods on custom-networking ENIs need.
		SkipDefaultSecurityGroups:       pulumi.BoolRef(true),
		EndpointPublicAccess:            pulumi.Bool(cfg.Cluster.EndpointPublicAccess),
		EndpointPrivateAccess:           pulumi.Bool(cfg.Cluster.EndpointPrivateAccess),
		EnabledClusterLogTypes:          pulumi.ToStringArray(cfg.Cluster.LogTypes),
		CreateOidcProvider:              pulumi.Bool(true),
		KubernetesServiceIpAddressRange: pulumi.String(cfg.Cluster.ServiceCIDR),
		AuthenticationMode:              &apiMode,
		InstanceRoles:                   iam.RoleArray{args.NodeRole},
		UseDefaultVpcCni:                pulumi.BoolRef(false),
		VpcCniOptions:                   vpcCniOptions(cfg, versions[stacks.AddonVPCCNI].Version),
		KubeProxyAddonOptions:           kubeProxyOptions(versions[stacks.AddonKubeProxy].Version),
		CorednsAddonOptions:             corednsOptions(),
		Tags:                            pulumi.StringMap{"eksnet.io/stack": pulumi.String(cfg.Env)},
	}
	if cl := cfg.Cluster; cl.KubeconfigProfile != "" || cl.KubeconfigRoleARN != "" {
		o := &eks.KubeconfigOptionsArgs{}
		if cl.KubeconfigProfile != "" {
			o.ProfileName = pulumi.String(cl.KubeconfigProfile)
		}
		if cl.KubeconfigRoleARN != "" {
			o.RoleArn = pulumi.String(cl.KubeconfigRoleARN)
		}
		eargs.ProviderCredentialOpts = o
	}
	if len(cfg.Cluster.Admins) > 0 {
		eargs.AccessEntries = adminAccessEntries(cfg)
	}
	if len(cfg.Cluster.PublicAccessCIDRs) > 0 {
		eargs.PublicAccessCidrs = pulumi.ToStringArray(cfg.Cluster.PublicAccessCIDRs)
	}
	if cfg.Cluster.SecretsEncryption {
		key, err := kms.NewKey(ctx, name+"-secrets", &kms.KeyArgs{
			Description:       pulumi.String("eksnet: envelope encryption of Kubernetes Secrets in " + cfg.ClusterName),
			EnableKeyRotation: pulumi.Bool(true),
		}, parent, pulumi.Protect(cfg.Protect))
		if err != nil {
			return nil, fmt.Errorf("secrets kms key: %w", err)
		}
		c.SecretsKey = key
		eargs.EncryptionConfigKeyArn = key.Arn
	}
	cl, err := eks.NewCluster(ctx, name, eargs, parent, pulumi.Protect(cfg.Protect))
	if err != nil {
		return nil, fmt.Errorf("eks cluster %s: %w", cfg.ClusterName, err)
	}
	c.EKS = cl
	// The kubeconfig is a secret; the name, endpoint and CA are not, and
	// keeping them plain keeps node group and launch template diffs readable.
	kubeconfig := pulumi.Unsecret(cl.KubeconfigJson).(pulumi.StringOutput)
	c.Name = kubeconfig.ApplyT(func(string) string { return cfg.ClusterName }).(pulumi.StringOutput)
	c.Access = kubeconfig.ApplyT(func(kc string) (map[string]string, error) {
		endpoint, ca, err := KubeconfigAccess(kc)
		if err != nil {
			return nil, err
		}
		return map[string]string{"endpoint": endpoint, "ca": ca}, nil
	}).(pulumi.StringMapOutput)
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"name": c.Name, "kubeconfig": pulumi.ToSecret(cl.KubeconfigJson), "oidcProviderArn": cl.OidcProviderArn,
	}); err != nil {
		return nil, fmt.Errorf("register cluster outputs: %w", err)
	}
	return c, nil
}

// IRSATrust is the trust policy (JSON) binding a role to one service
// account through the cluster's OIDC provider.
func (c *Cluster) IRSATrust(namespace, serviceAccount string) pulumi.StringOutput {
	return pulumi.All(c.EKS.OidcProviderArn, c.EKS.OidcProviderUrl).ApplyT(func(v []any) string {
		return IRSATrust(v[0].(string), v[1].(string), namespace, serviceAccount).JSON()
	}).(pulumi.StringOutput)
}

// ClusterAdminPolicy is EKS's access policy equal to cluster-admin.
const ClusterAdminPolicy = "AmazonEKSClusterAdminPolicy"

// adminAccessEntries gives every eksnet:cluster.admins principal an access
// entry with the cluster-admin access policy over the whole cluster.
func adminAccessEntries(cfg stacks.Config) map[string]eks.AccessEntryArgs {
	out := map[string]eks.AccessEntryArgs{}
	policy := fmt.Sprintf("arn:%s:eks::aws:cluster-access-policy/%s", Partition(cfg.Region), ClusterAdminPolicy)
	for i, arn := range cfg.Cluster.Admins {
		out[fmt.Sprintf("admin-%d", i)] = eks.AccessEntryArgs{
			PrincipalArn: pulumi.String(arn),
			AccessPolicies: map[string]eks.AccessPolicyAssociationInput{"cluster-admin": eks.AccessPolicyAssociationArgs{
				PolicyArn:   pulumi.String(policy),
				AccessScope: awseks.AccessPolicyAssociationAccessScopeArgs{Type: pulumi.String("cluster")},
			}},
		}
	}
	return out
}

// KubeconfigAccess returns the API server URL and base64 CA bundle of the
// first cluster in a kubeconfig JSON document.
func KubeconfigAccess(kubeconfigJSON string) (endpoint, caData string, err error) {
	var kc struct {
		Clusters []struct {
			Cluster struct {
				Server string `json:"server"`
				CA     string `json:"certificate-authority-data"`
			} `json:"cluster"`
		} `json:"clusters"`
	}
	if err := json.Unmarshal([]byte(kubeconfigJSON), &kc); err != nil {
		return "", "", fmt.Errorf("parse cluster kubeconfig: %w", err)
	}
	if len(kc.Clusters) == 0 || kc.Clusters[0].Cluster.Server == "" || kc.Clusters[0].Cluster.CA == "" {
		return "", "", fmt.Errorf("cluster kubeconfig: no cluster with server and certificate-authority-data")
	}
	return kc.Clusters[0].Cluster.Server, kc.Clusters[0].Cluster.CA, nil
}
