package stacks

import (
	"errors"
	"github.com/eksnet/eksnet/infra/cidrplan"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustPreset(t *testing.T, name string) Config {
	t.Helper()
	c, err := Preset(name, "test", "us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPresetsValidate(t *testing.T) {
	for _, name := range PresetNames {
		t.Run(name, func(t *testing.T) {
			c := mustPreset(t, name)
			if err := c.Validate(); err != nil {
				t.Fatalf("preset %s: Validate() = %v", name, err)
			}
			caps, err := c.Capacity(mustLayout(t, c), mustPods(t, c))
			if err != nil {
				t.Fatal(err)
			}
			if len(caps) == 0 {
				t.Fatal("no capacity rows")
			}
			for _, sc := range caps {
				if !sc.Fits || sc.AddressesNeeded == 0 {
					t.Errorf("%s: %+v", sc.Subnet.Name, sc)
				}
			}
		})
	}
	prod := mustPreset(t, PresetProd)
	if !prod.Protect || !prod.Cluster.SecretsEncryption || !prod.Cluster.EndpointPublicAccess || !prod.Cluster.EndpointPrivateAccess || prod.Network.NAT != NATPerAZ {
		t.Errorf("prod preset lost its guarantees: %+v", prod)
	}
}

func mustLayout(t *testing.T, c Config) cidrplan.Layout {
	t.Helper()
	l, err := c.Layout()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustPods(t *testing.T, c Config) []GroupPods {
	t.Helper()
	p, err := c.NodeGroupPods()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadPresets(t *testing.T) {
	tests := []struct {
		name   string
		preset string
		mutate func(*Config)
		want   string
	}{
		{"overlapping service and vpc", PresetDev, func(c *Config) { c.Cluster.ServiceCIDR = "10.0.128.0/20" },
			`eksnet:cluster.serviceCidr 10.0.128.0/20 overlaps eksnet:network.vpcCidr 10.0.0.0/16; the ranges must be disjoint`},
		{"overlapping pod and vpc", PresetStaging, func(c *Config) { c.Network.PodCIDR = "10.0.0.0/17"; c.Network.PodSubnetBits = 20 },
			`eksnet:network.podCidr 10.0.0.0/17 overlaps eksnet:network.vpcCidr 10.0.0.0/16`},
		{"subnet too small", PresetDev, func(c *Config) { c.Network.PrivateSubnetBits = 26; c.NodeGroups[0].MaxSize = 10 },
			`eksnet:network.privateSubnetBits: subnet private-us-west-2a 10.0.0.0/26 is too small for max nodes x max pods: 5 nodes need 90 addresses, it has 59`},
		{"prefix room too small", PresetProd, func(c *Config) { c.Network.PrivateSubnetBits = 24; c.NodeGroups[0].MaxSize = 30 },
			`eksnet:network.privateSubnetBits: subnet private-us-west-2a 10.0.0.0/24 is too small for max nodes x max pods: 10 nodes need 10 addresses, it has 123 and 70 /28 prefixes, it has room for 8`},
		{"unknown instance type", PresetDev, func(c *Config) { c.NodeGroups[0].InstanceTypes = []string{"m5.larg"} },
			`eksnet:nodeGroups[0].instanceTypes: unknown instance type "m5.larg"`},
		{"prefix delegation on xen", PresetStaging, func(c *Config) { c.NodeGroups[0].InstanceTypes = []string{"m4.large"} },
			`eksnet:nodeGroups[0].instanceTypes: m4.large runs on the xen hypervisor, but eksnet:cni.prefixDelegation is true and /28 prefixes need Nitro or bare-metal types`},
		{"nat without public subnets", PresetDev, func(c *Config) { c.Network.PublicSubnetBits = 0 },
			`eksnet:network.nat "single": NAT gateways live in public subnets but eksnet:network.publicSubnetBits is 0 (no public subnets)`},
		{"bad kubernetes version", PresetDev, func(c *Config) { c.KubernetesVersion = "1.19" },
			`eksnet:kubernetesVersion "1.19": accepted values are 1.30, 1.31, 1.32, 1.33, 1.34, 1.35`},
		{"missing region", PresetDev, func(c *Config) { c.Region = "" },
			"aws:region: not set; set it with `eksnet stack new ENV --region R` or `pulumi config set aws:region R`"},
		{"bad nat mode", PresetDev, func(c *Config) { c.Network.NAT = "gateway" },
			`eksnet:network.nat "gateway": accepted values are none, single, per-az`},
		{"bad cni mode", PresetDev, func(c *Config) { c.CNI.Mode = "calico" },
			`eksnet:cni.mode "calico": accepted values are agent, aws-vpc-cni`},
		{"one az", PresetDev, func(c *Config) { c.Network.AZCount = 1 },
			`eksnet:network.azCount 1: EKS needs subnets in at least 2 availability zones`},
		{"mixed arch", PresetDev, func(c *Config) { c.NodeGroups[0].InstanceTypes = []string{"m5.large", "m6g.large"} },
			`eksnet:nodeGroups[0].instanceTypes: m5.large is amd64 but m6g.large is arm64`},
		{"sizes", PresetDev, func(c *Config) { c.NodeGroups[0].DesiredSize = 9 },
			`eksnet:nodeGroups[0]: sizes min 1, desired 9, max 3`},
		{"nat none, public endpoint only", PresetDev, func(c *Config) { c.Network.NAT = NATNone },
			`eksnet:cluster.endpointPrivateAccess false with eksnet:network.nat none: nodes without outbound internet access register with the cluster only through the private endpoint`},
		{"nat none with the load balancer controller", PresetStaging, func(c *Config) { c.Network.NAT = NATNone },
			`eksnet:addons.loadBalancerController true with eksnet:network.nat none: `},
		{"nat none with the demo", PresetDev, func(c *Config) { c.Network.NAT = NATNone },
			`eksnet:addons.demoApp true with eksnet:network.nat none: the demo's image is pulled from public.ecr.aws/l6m2t8p7/docker-2048`},
		{"no endpoint", PresetProd, func(c *Config) { c.Cluster.EndpointPrivateAccess, c.Cluster.EndpointPublicAccess = false, false },
			`eksnet:cluster: endpointPublicAccess and endpointPrivateAccess are both false`},
		{"private only, deployer outside", PresetProd, func(c *Config) { c.Cluster.EndpointPublicAccess = false },
			`eksnet:cluster.endpointPublicAccess false: with a private-only endpoint ` + "`pulumi up`" + ` cannot reach the API server`},
		{"cidrs on a private endpoint", PresetProd, func(c *Config) {
			c.Cluster.EndpointPublicAccess, c.Cluster.DeployerInVPC = false, true
			c.Cluster.PublicAccessCIDRs = []string{"203.0.113.0/24"}
		}, `eksnet:cluster.publicAccessCidrs [203.0.113.0/24]: endpointPublicAccess is false`},
		{"bad demo cidr", PresetDev, func(c *Config) { c.Addons.DemoAllowedCIDRs = []string{"10.0.0.1/8"} },
			`eksnet:addons.demoAllowedCidrs "10.0.0.1/8": host bits set`},
		{"demo image by tag", PresetDev, func(c *Config) { c.Addons.DemoImage = DemoImageRepository + ":latest" },
			`eksnet:addons.demoImage "public.ecr.aws/l6m2t8p7/docker-2048:latest": not pinned by digest`},
		{"demo image short digest", PresetDev, func(c *Config) { c.Addons.DemoImage = DemoImageRepository + "@sha256:abcd" },
			`eksnet:addons.demoImage "public.ecr.aws/l6m2t8p7/docker-2048@sha256:abcd": `},
		{"demo image upper case", PresetDev, func(c *Config) {
			c.Addons.DemoImage = "public.ecr.aws/L6m2t8p7/docker-2048@sha256:" + strings.Repeat("a", 64)
		},
			`eksnet:addons.demoImage "public.ecr.aws/L6m2t8p7/docker-2048@sha256:aaaa`},
		{"bad sha", PresetDev, func(c *Config) { c.CNI.Agent.AMD64SHA256 = "abc" },
			`eksnet:cni.agent.amd64Sha256 "abc": must be 64 hex digits`},
		{"vpc host bits", PresetDev, func(c *Config) { c.Network.VPCCIDR = "10.0.0.1/16" },
			`eksnet:network.vpcCidr "10.0.0.1/16": host bits set, did you mean 10.0.0.0/16`},
		{"bottlerocket with the agent", PresetDev, func(c *Config) { c.NodeGroups[0].OS = "bottlerocket" },
			`eksnet:nodeGroups[0].os bottlerocket: Bottlerocket runs no user-data shell scripts, so it cannot install the eksnet agent`},
		{"custom networking with the agent", PresetDev, func(c *Config) { c.Network.PodCIDR = "100.64.0.0/16"; c.Network.PodSubnetBits = 18 },
			`eksnet:network.podCidr "100.64.0.0/16": custom networking (pods on separate subnets) is supported with the AWS VPC CNI only`},
		{"unknown os", PresetDev, func(c *Config) { c.NodeGroups[0].OS = "ubuntu" },
			`eksnet:nodeGroups[0].os "ubuntu": accepted values are al2023, al2, bottlerocket`},
		{"bad label key", PresetDev, func(c *Config) { c.NodeGroups[0].Labels = map[string]string{"team name": "a"} },
			`eksnet:nodeGroups[0].labels "team name": a label name is 1-63 letters, digits, '-', '_' or '.'`},
		{"bad label value", PresetDev, func(c *Config) { c.NodeGroups[0].Labels = map[string]string{"team": "a,b"} },
			`eksnet:nodeGroups[0].labels "team=a,b": a label value is empty or up to 63 letters`},
		{"cni label by hand", PresetDev, func(c *Config) { c.NodeGroups[0].Labels = map[string]string{"eksnet.io/cni": "agent"} },
			`eksnet:nodeGroups[0].labels "eksnet.io/cni": is set by eksnet from the CNI mode; drop it`},
		{"negative host-network daemonsets", PresetDev, func(c *Config) { c.NodeGroups[0].HostNetworkDaemonSets = -1 },
			`eksnet:nodeGroups[0].hostNetworkDaemonSets -1: accepted values are 0 (none beyond kube-proxy) or more`},
		{"negative host-network daemonsets, aws-vpc-cni", PresetDev, func(c *Config) { c.CNI.Mode = CNIAWSVPC; c.NodeGroups[0].HostNetworkDaemonSets = -2 },
			`eksnet:nodeGroups[0].hostNetworkDaemonSets -2: accepted values are 0 (none beyond kube-proxy and aws-node) or more`},
		// t3.medium caps at 110: kube-proxy and 109 DaemonSets leave no pod a slot.
		{"host-network daemonsets fill the kubelet cap", PresetDev, func(c *Config) { c.NodeGroups[0].HostNetworkDaemonSets = 109 },
			`eksnet:nodeGroups[0].hostNetworkDaemonSets 109: max pods 110 (limited by t3.medium) less 110 host-network pods leaves no pod addresses; accepted values are 0 to 108`},
		{"subnets do not fit", PresetDev, func(c *Config) { c.Network.PrivateSubnetBits = 16 },
			`eksnet:network: private subnets: 2 x /16 do not fit in 10.0.0.0/16`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustPreset(t, tt.preset)
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestResolveOverrides(t *testing.T) {
	c, err := Resolve("team-a", map[string]string{
		"aws:region":               "eu-central-1",
		"eksnet:preset":            "staging",
		"eksnet:kubernetesVersion": "1.32",
		"eksnet:network":           `{"nat":"per-az"}`,
		"eksnet:nodeGroups":        `[{"maxSize":9,"hostNetworkDaemonSets":2}]`,
		"eksnet:protect":           "true",
		"other:setting":            `{"ignored":true}`,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Network.NAT != NATPerAZ || c.Network.VPCCIDR != "10.0.0.0/16" || c.Network.AZCount != 3 {
		t.Errorf("network override did not merge over the preset: %+v", c.Network)
	}
	if ng := c.NodeGroups[0]; ng.MaxSize != 9 || ng.Name != "general" || len(ng.InstanceTypes) != 2 || ng.HostNetworkDaemonSets != 2 {
		t.Errorf("node group override did not merge over the preset: %+v", ng)
	}
	if !c.Protect || c.KubernetesVersion != "1.32" || c.ClusterName != "eksnet-team-a" || c.Region != "eu-central-1" {
		t.Errorf("resolved %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}

	for values, want := range map[string]map[string]string{
		"config key eksnet:netwrk: unknown (did you mean eksnet:network?); accepted keys are eksnet:preset": {"eksnet:netwrk": "{}"},
		"config key eksnet:vpcId: unknown; accepted keys are eksnet:preset":                                 {"eksnet:vpcId": "vpc-1"},
		"config key eksnet:network.natMode: unknown field; accepted fields here are vpcCidr, azCount":       {"eksnet:network": `{"natMode":"single"}`},
		"config key eksnet:nodeGroups[1].maxSize: want an integer, got a string (\"9\")":                    {"eksnet:nodeGroups": `[{}, {"maxSize":"9"}]`},
		"config key eksnet:nodeGroups[0].hostNetworkDaemonSets: want an integer, got a string":              {"eksnet:nodeGroups": `[{"hostNetworkDaemonSets":"2"}]`},
		"config key eksnet:cni.agent: want a mapping of fields, got a list":                                 {"eksnet:cni": `{"agent":[]}`},
		`eksnet:preset "qa": accepted values are dev, staging, prod`:                                        {"eksnet:preset": "qa"},
		`config key eksnet:protect: want true or false, got "yes"`:                                          {"eksnet:protect": "yes"},
		`config key "region": want namespace:key`:                                                           {"region": "us-east-1"},
	} {
		want["aws:region"] = "us-east-1"
		if _, err := Resolve("x", want, nil); err == nil || !strings.Contains(err.Error(), values) {
			t.Errorf("Resolve(%v) = %v, want %q", want, err, values)
		}
	}
	if _, err := Resolve("x", map[string]string{"aws:region": "us-east-1", "eksnet:clusterName": "c"}, []string{"eksnet:clusterName"}); err == nil || !strings.Contains(err.Error(), "config key eksnet:clusterName: secret values are not supported") {
		t.Errorf("secret eksnet value: %v", err)
	}
	if c, err := Resolve("x", map[string]string{"aws:region": "us-east-1", "aws:profile": "ops"}, nil); err != nil || c.Cluster.KubeconfigProfile != "ops" {
		t.Errorf("aws:profile is the kubeconfig's default profile: %v, %q", err, c.Cluster.KubeconfigProfile)
	}
}

func TestStackFileRoundTrip(t *testing.T) {
	root := t.TempDir()
	f, err := NewStackFile("dev", "dev", "us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	path := FilePath(root, "dev")
	if err := f.Write(path); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(path); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second Write = %v, want refusal to overwrite", err)
	}
	// A user edit with `pulumi config set --path` and an unquoted version.
	b, _ := os.ReadFile(path)
	b = append(b, "  eksnet:kubernetesVersion: 1.30\n  eksnet:network:\n    nat: per-az\n"...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(root, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if c.Preset != "dev" || c.Region != "us-west-2" || c.KubernetesVersion != "1.30" || c.Network.NAT != NATPerAZ || c.Network.AZCount != 2 {
		t.Errorf("Load = %+v", c)
	}
	if _, err := Load(root, "nope"); err == nil || !strings.Contains(err.Error(), "eksnet stack new nope") {
		t.Errorf("Load(missing) = %v", err)
	}
	if _, err := NewStackFile("dev", "tiny", "us-west-2"); err == nil || !strings.Contains(err.Error(), "--preset") {
		t.Errorf("NewStackFile(bad preset) = %v", err)
	}
	if _, err := NewStackFile("Dev!", "dev", "us-west-2"); err == nil {
		t.Error("NewStackFile(bad env) = nil")
	}
	if filepath.Base(path) != "Pulumi.dev.yaml" {
		t.Errorf("path %s", path)
	}
}

func TestArch(t *testing.T) {
	for it, want := range map[string]string{"m5.large": "amd64", "m6g.large": "arm64", "c7gn.xlarge": "arm64", "t4g.small": "arm64",
		"g4dn.xlarge": "amd64", "g5g.xlarge": "arm64", "a1.large": "arm64", "m7i-flex.large": "amd64", "r8gd.large": "arm64", "inf2.xlarge": "amd64"} {
		if got := Arch(it); got != want {
			t.Errorf("Arch(%s) = %s, want %s", it, got, want)
		}
	}
}

// TestUpdateNamesWhoMayReachPublicSurfaces: no preset may reach `up`
// with its API endpoint or demo ALB open to the world by default; a
// private-only endpoint with the deployer inside the VPC needs no CIDRs.
func TestUpdateNamesWhoMayReachPublicSurfaces(t *testing.T) {
	for _, name := range PresetNames {
		c := mustPreset(t, name)
		err := c.ValidateExposure()
		if err == nil || !strings.Contains(err.Error(), "eksnet:cluster.publicAccessCidrs: empty") {
			t.Errorf("preset %s: ValidateExposure() = %v, want the empty publicAccessCidrs refused", name, err)
		}
		if c.Addons.DemoApp != (err != nil && strings.Contains(err.Error(), "eksnet:addons.demoAllowedCidrs: empty")) {
			t.Errorf("preset %s (demo %v): ValidateExposure() = %v", name, c.Addons.DemoApp, err)
		}
		c.Cluster.PublicAccessCIDRs = []string{"203.0.113.7/32"}
		c.Addons.DemoAllowedCIDRs = []string{Open}
		if err := c.ValidateExposure(); err != nil {
			t.Errorf("preset %s with CIDRs named: %v", name, err)
		}
	}
	c := mustPreset(t, PresetProd)
	c.Cluster.EndpointPublicAccess, c.Cluster.DeployerInVPC = false, true
	if err := errors.Join(c.Validate(), c.ValidateExposure()); err != nil {
		t.Errorf("private-only prod with the deployer in the VPC: %v", err)
	}
}

// TestRegionTable: the embedded table parses, every region has the two
// zones EKS needs, and lookups suggest the closest names.
func TestRegionTable(t *testing.T) {
	names := RegionNames()
	if len(names) < 38 {
		t.Errorf("%d regions, want >= 38", len(names))
	}
	for _, n := range names {
		if r, _ := LookupRegion(n); len(r.AZs) < 2 {
			t.Errorf("%s: %d zones, EKS needs 2", n, len(r.AZs))
		}
	}
	if r, _ := LookupRegion("us-east-1"); len(r.AZs) != 6 {
		t.Errorf("us-east-1 zones %v", r.AZs)
	}
	if _, err := LookupRegion("us-esat-1"); err == nil || !strings.Contains(err.Error(), "did you mean us-east-1") {
		t.Errorf("LookupRegion(us-esat-1) = %v", err)
	}
	c := mustPreset(t, PresetStaging)
	c.Region = "ca-central-1"
	if got := strings.Join(c.AZs(), ","); got != "ca-central-1a,ca-central-1b,ca-central-1d" {
		t.Errorf("ca-central-1 zones %s (there is no ca-central-1c)", got)
	}
}

// TestNATNoneValidates: a private-only stack is accepted once it has the
// private endpoint and nothing that needs the internet.
func TestNATNoneValidates(t *testing.T) {
	c := mustPreset(t, PresetStaging)
	c.Network.NAT = NATNone
	c.Addons.LoadBalancerController = false
	if err := c.Validate(); err != nil {
		t.Fatalf("staging with nat none and no load balancer controller: %v", err)
	}
	c.Cluster.EndpointPrivateAccess = false
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "eksnet:cluster.endpointPrivateAccess false") {
		t.Fatalf("without the private endpoint: %v", err)
	}
}
