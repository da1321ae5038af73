package stacks

import (
	"fmt"
	"slices"
	"strings"
)

// Preset names.
const (
	PresetDev     = "dev"
	PresetStaging = "staging"
	PresetProd    = "prod"
)

// PresetNames are the accepted values of --preset and eksnet:preset.
var PresetNames = []string{PresetDev, PresetStaging, PresetProd}

// SupportedKubernetesVersions are the EKS minor versions the stack accepts:
// those with published EKS-optimized AMI parameters in SSM.
var SupportedKubernetesVersions = []string{"1.30", "1.31", "1.32", "1.33", "1.34", "1.35"}

// DefaultKubernetesVersion is what the presets pin.
const DefaultKubernetesVersion = "1.33"

// Preset returns the defaults for a preset in env and region. The presets
// differ in what an environment must survive, not in features:
//   - dev: two AZs, one NAT gateway, small nodes, public endpoint, demo app;
//   - staging: three AZs, one NAT gateway, prefix delegation, public and
//     private endpoint;
//   - prod: three AZs, a NAT gateway per AZ, public and private endpoint
//     (nodes use the private one; pulumi up needs the public one unless it
//     runs in the VPC), KMS encryption of Secrets, all control-plane logs,
//     Pulumi protect.
//
// No preset opens anything to the internet by itself: an update needs
// eksnet:cluster.publicAccessCidrs (and addons.demoAllowedCidrs with the
// demo), see Config.ValidateExposure.
func Preset(name, env, region string) (Config, error) {
	base := Config{
		Preset:            name,
		Env:               env,
		Region:            region,
		ClusterName:       "eksnet-" + env,
		KubernetesVersion: DefaultKubernetesVersion,
		Network: Network{
			VPCCIDR:           "10.0.0.0/16",
			PublicSubnetBits:  24,
			PrivateSubnetBits: 19,
		},
		Cluster: Cluster{ServiceCIDR: "172.20.0.0/16"},
		CNI:     CNI{Mode: CNIAgent, Agent: AgentBinaries{Version: "dev"}},
		// Every preset gets the same capabilities: Pod Identity, EBS volumes
		// (a default gp3 StorageClass) and metrics-server for the HPA.
		Addons: Addons{LoadBalancerController: true, PodIdentity: true, EBSCSIDriver: true, MetricsServer: true, Namespaces: []string{"apps"}},
	}
	switch name {
	case PresetDev:
		base.Network.AZCount = 2
		base.Network.PrivateSubnetBits = 20
		base.Network.NAT = NATSingle
		base.Cluster.EndpointPublicAccess = true
		base.Cluster.LogTypes = []string{"api", "audit"}
		base.CNI.WarmIPTarget = 2
		base.CNI.MinimumIPTarget = 4
		base.NodeGroups = []NodeGroup{{
			Name: "general", InstanceTypes: []string{"t3.medium"}, CapacityType: "ON_DEMAND", OS: "al2023",
			MinSize: 1, DesiredSize: 2, MaxSize: 3, DiskSizeGiB: 20,
		}}
		base.Addons.DemoApp = true
	case PresetStaging:
		base.Network.AZCount = 3
		base.Network.NAT = NATSingle
		base.Cluster.EndpointPublicAccess = true
		base.Cluster.EndpointPrivateAccess = true
		base.Cluster.LogTypes = []string{"api", "audit", "authenticator"}
		base.CNI.PrefixDelegation = true
		base.CNI.WarmPrefixTarget = 1
		base.NodeGroups = []NodeGroup{{
			Name: "general", InstanceTypes: []string{"m5.large", "m6i.large"}, CapacityType: "ON_DEMAND", OS: "al2023",
			MinSize: 2, DesiredSize: 3, MaxSize: 6, DiskSizeGiB: 50,
		}}
	case PresetProd:
		base.Network.AZCount = 3
		base.Network.NAT = NATPerAZ
		base.Cluster.EndpointPublicAccess = true
		base.Cluster.EndpointPrivateAccess = true
		base.Cluster.LogTypes = []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}
		base.Cluster.SecretsEncryption = true
		base.CNI.PrefixDelegation = true
		base.CNI.WarmPrefixTarget = 1
		base.NodeGroups = []NodeGroup{{
			Name: "general", InstanceTypes: []string{"m5.xlarge", "m6i.xlarge"}, CapacityType: "ON_DEMAND", OS: "al2023",
			MinSize: 3, DesiredSize: 3, MaxSize: 12, DiskSizeGiB: 100,
		}}
		base.Protect = true
	default:
		return Config{}, fmt.Errorf("preset %q: accepted values are %s", name, strings.Join(PresetNames, ", "))
	}
	return base, nil
}

// AZs returns the availability zones: the explicit list, or the first
// AZCount zones of the region in the embedded region table (ca-central-1:
// a, b, d), or region+a, b, c... for a region the table lacks.
func (c Config) AZs() []string {
	if len(c.Network.AvailabilityZones) > 0 {
		return slices.Clone(c.Network.AvailabilityZones)
	}
	if r, ok := regions[c.Region]; ok {
		return slices.Clone(r.AZs[:min(max(c.Network.AZCount, 0), len(r.AZs))])
	}
	out := make([]string, 0, c.Network.AZCount)
	for i := 0; i < c.Network.AZCount && i < 26; i++ {
		out = append(out, c.Region+string(rune('a'+i)))
	}
	return out
}
