// Package stacks holds the typed stack configuration of an eksnet
// environment: the dev, staging and prod presets with their defaults, the
// `eksnet:` config keys that override them, validation that runs before any
// cloud call, and the Pulumi.<env>.yaml files `eksnet stack new` writes.
//
// It imports no Pulumi resource packages, so the CLI and tests validate a
// stack in milliseconds; the infra packages consume the resolved Config.
package stacks

// Config is one environment, fully resolved: a preset's defaults with the
// stack's `eksnet:` overrides applied. Field JSON names are the config keys.
type Config struct {
	// Preset is the preset the defaults came from: dev, staging or prod.
	Preset string `json:"preset"`
	// Env is the stack name (dev, team-a, ...), used in resource names.
	Env string `json:"env"`
	// Region is the AWS region (config key aws:region).
	Region string `json:"region"`
	// ClusterName names the EKS cluster and tags its subnets.
	ClusterName string `json:"clusterName"`
	// KubernetesVersion is the EKS minor version, e.g. "1.33".
	KubernetesVersion string      `json:"kubernetesVersion"`
	Network           Network     `json:"network"`
	Cluster           Cluster     `json:"cluster"`
	CNI               CNI         `json:"cni"`
	NodeGroups        []NodeGroup `json:"nodeGroups"`
	Addons            Addons      `json:"addons"`
	// Protect marks stateful resources (VPC, cluster, KMS key, bucket) with
	// Pulumi's protect option so `pulumi destroy` refuses to delete them.
	Protect bool `json:"protect"`
}

// NAT strategies.
const (
	NATNone   = "none"
	NATSingle = "single"
	NATPerAZ  = "per-az"
)

// Network is the VPC layout.
type Network struct {
	VPCCIDR string `json:"vpcCidr"`
	// AZCount is how many availability zones get one subnet of each role.
	AZCount int `json:"azCount"`
	// AvailabilityZones overrides the zones; default: the first AZCount zones
	// of the region in the embedded table (stacks/regions.tsv).
	AvailabilityZones []string `json:"availabilityZones,omitempty"`
	// PublicSubnetBits is the public subnet prefix length; 0 = no public subnets.
	PublicSubnetBits int `json:"publicSubnetBits"`
	// PrivateSubnetBits is the node subnet prefix length.
	PrivateSubnetBits int `json:"privateSubnetBits"`
	// NAT is none, single or per-az.
	NAT string `json:"nat"`
	// PodCIDR, when set, is a secondary VPC block for pod subnets (custom networking).
	PodCIDR string `json:"podCidr,omitempty"`
	// PodSubnetBits is the pod subnet prefix length under custom networking.
	PodSubnetBits int `json:"podSubnetBits,omitempty"`

	// VPCID, when set, is an existing VPC the stack runs in instead of
	// creating one (bring your own VPC): the stack then creates no VPC,
	// subnets, gateways, route tables or endpoints, looks the VPC and the
	// subnets below up, and checks capacity on their real CIDRs. The
	// layout keys above (vpcCidr, azCount, availabilityZones, *SubnetBits,
	// podCidr) do not apply; nat says what the VPC gives private subnets.
	VPCID string `json:"vpcId,omitempty"`
	// PrivateSubnetIDs are the existing VPC's node subnets (at least two
	// zones); required with VPCID.
	PrivateSubnetIDs []string `json:"privateSubnetIds,omitempty"`
	// PublicSubnetIDs are its public subnets, for internet-facing load
	// balancers; optional.
	PublicSubnetIDs []string `json:"publicSubnetIds,omitempty"`
	// PodSubnetIDs are its pod subnets for custom networking, one per zone
	// of the private subnets; optional.
	PodSubnetIDs []string `json:"podSubnetIds,omitempty"`
}

// Cluster is the EKS control plane.
type Cluster struct {
	EndpointPublicAccess  bool `json:"endpointPublicAccess"`
	EndpointPrivateAccess bool `json:"endpointPrivateAccess"`
	// PublicAccessCIDRs may reach the public endpoint; an update refuses
	// an empty list while the endpoint is public (see ValidateExposure).
	PublicAccessCIDRs []string `json:"publicAccessCidrs,omitempty"`
	// DeployerInVPC says pulumi up runs inside the VPC (or a peered
	// network), the only place a private-only endpoint can be reached from.
	DeployerInVPC bool     `json:"deployerInVpc,omitempty"`
	LogTypes      []string `json:"logTypes,omitempty"`
	// Admins are IAM role or user ARNs given EKS access entries with the
	// AmazonEKSClusterAdminPolicy; without them only the identity that
	// created the cluster can reach it.
	Admins []string `json:"admins,omitempty"`
	// KubeconfigProfile and KubeconfigRoleARN go into the generated
	// kubeconfig (and the Kubernetes provider's), so it authenticates as the
	// deployer did; the profile defaults to aws:profile.
	KubeconfigProfile string `json:"kubeconfigProfile,omitempty"`
	KubeconfigRoleARN string `json:"kubeconfigRoleArn,omitempty"`
	// SecretsEncryption creates a KMS key for envelope encryption of Secrets.
	SecretsEncryption bool `json:"secretsEncryption"`
	// ServiceCIDR is the Kubernetes service range; must not overlap the VPC.
	ServiceCIDR string `json:"serviceCidr"`
}

// CNI modes.
const (
	// CNIAgent runs the bundled eksnet agent and plugin on the nodes.
	CNIAgent = "agent"
	// CNIAWSVPC keeps the EKS-managed AWS VPC CNI (aws-node), configured by the stack.
	CNIAWSVPC = "aws-vpc-cni"
)

// CNI is the pod networking mode and its address management settings.
type CNI struct {
	// Mode is agent (default) or aws-vpc-cni.
	Mode             string `json:"mode"`
	PrefixDelegation bool   `json:"prefixDelegation"`
	WarmIPTarget     int    `json:"warmIpTarget,omitempty"`
	MinimumIPTarget  int    `json:"minimumIpTarget,omitempty"`
	WarmPrefixTarget int    `json:"warmPrefixTarget,omitempty"`
	WarmENITarget    int    `json:"warmEniTarget,omitempty"`
	// MaxENI caps the ENIs a node attaches (0 = the instance limit).
	MaxENI int `json:"maxEni,omitempty"`
	// ExternalSNAT leaves SNAT to the NAT gateway (pods reachable from peered networks).
	ExternalSNAT bool `json:"externalSnat"`
	// Agent is where the node bundles (agent + CNI plugin) come from in agent mode.
	Agent AgentBinaries `json:"agent"`
}

// CustomNetworking reports whether pods use the secondary CIDR's subnets.
func (c Config) CustomNetworking() bool {
	return c.Network.PodCIDR != "" || len(c.Network.PodSubnetIDs) > 0
}

// ExistingVPC reports whether the stack runs in a VPC it does not create
// (eksnet:network.vpcId).
func (c Config) ExistingVPC() bool { return c.Network.VPCID != "" }

// AgentBinaries are the node bundles (eksnet-agent + eksnet-cni per arch,
// written by `eksnet bundle`) uploaded to the stack's bucket. When a path is
// empty the program uploads a placeholder bundle (hashed for real) so plan
// and preview work before the bundles are built; `up` refuses that.
type AgentBinaries struct {
	Version     string `json:"version"`
	AMD64Path   string `json:"amd64Path,omitempty"`
	ARM64Path   string `json:"arm64Path,omitempty"`
	AMD64SHA256 string `json:"amd64Sha256,omitempty"`
	ARM64SHA256 string `json:"arm64Sha256,omitempty"`
}

// NodeGroup is one EKS managed node group.
type NodeGroup struct {
	Name          string   `json:"name"`
	InstanceTypes []string `json:"instanceTypes"`
	// CapacityType is ON_DEMAND or SPOT.
	CapacityType string `json:"capacityType"`
	// OS is al2023 (default), al2 or bottlerocket.
	OS      string `json:"os"`
	MinSize int    `json:"minSize"`
	// DesiredSize is applied on every update unless Autoscaled.
	DesiredSize int `json:"desiredSize"`
	MaxSize     int `json:"maxSize"`
	// Autoscaled says a cluster autoscaler (or Karpenter) the user runs owns
	// the group's desired size: updates then set it only at creation. Left
	// false, every update sets desiredSize, so it never silently stops working.
	Autoscaled  bool `json:"autoscaled,omitempty"`
	DiskSizeGiB int  `json:"diskSizeGiB"`
	// HostNetworkDaemonSets are the host-network DaemonSet pods the user
	// runs on every node of this group (node-exporter, a log shipper...),
	// beyond kube-proxy (and aws-node in aws-vpc-cni mode). Each takes a
	// kubelet pod slot and no ENI address, so max pods grows by this many
	// while the pod addresses the node wires stay the same.
	HostNetworkDaemonSets int `json:"hostNetworkDaemonSets,omitempty"`
	// AMIID pins the node group's AMI; an update refuses a group without
	// one (RequirePinned). `eksnet ami update ENV` writes AWS's recommended
	// AMI for the Kubernetes version, OS and architecture here, read once
	// from SSM; plan and preview show the recommended one until then.
	AMIID  string            `json:"amiId,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	Taints []Taint           `json:"taints,omitempty"`
}

// Taint is a Kubernetes node taint; Effect is NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE (EKS API spelling).
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// Addons are the cluster add-ons the stack installs.
type Addons struct {
	LoadBalancerController bool `json:"loadBalancerController"`
	// DemoApp deploys the 2048 game behind an ALB Ingress in IP target mode.
	DemoApp bool `json:"demoApp"`
	// DemoImage is the demo's container image pinned by digest
	// (repository@sha256:...); required by an update while DemoApp is
	// true, since no digest is knowable offline.
	DemoImage string `json:"demoImage,omitempty"`
	// DemoAllowedCIDRs may reach the demo's ALB (inbound-cidrs). Empty,
	// the ALB is not created at all (closed by default), and an update
	// refuses while DemoApp is true.
	DemoAllowedCIDRs []string `json:"demoAllowedCidrs,omitempty"`
	// Namespaces are created by the stack, each with the default LimitRange.
	Namespaces []string `json:"namespaces,omitempty"`
	// PodIdentity installs the EKS Pod Identity agent (eks-pod-identity-agent
	// add-on); the EBS CSI driver then gets its role through a Pod Identity
	// association instead of IRSA.
	PodIdentity bool `json:"podIdentity"`
	// EBSCSIDriver installs the aws-ebs-csi-driver add-on with its IAM role
	// (AWS's AmazonEBSCSIDriverPolicy) and a gp3 StorageClass as the
	// cluster default: without a CSI driver no PersistentVolumeClaim binds.
	EBSCSIDriver bool `json:"ebsCsiDriver"`
	// MetricsServer installs metrics-server (EKS community add-on), which
	// the Horizontal Pod Autoscaler and `kubectl top` need.
	MetricsServer bool `json:"metricsServer"`
	// Versions override the EKS add-on versions the stack takes from its
	// table for the Kubernetes version (stacks.Config.AddonVersion).
	Versions AddonVersions `json:"versions,omitempty"`
}
