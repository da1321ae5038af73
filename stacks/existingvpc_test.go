package stacks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testVPC = "vpc-0123456789abcdef0"
	testSNa = "subnet-0aaaaaaaaaaaaaaa1"
	testSNb = "subnet-0bbbbbbbbbbbbbbb2"
)

// TestExistingVPCKeys: the bring-your-own-VPC keys are checked offline for
// format and for the keys they need, each error naming its key.
func TestExistingVPCKeys(t *testing.T) {
	byo := func(c *Config) {
		c.Network.VPCID, c.Network.PrivateSubnetIDs = testVPC, []string{testSNa, testSNb}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // "" = valid
	}{
		{"valid", byo, ""},
		{"subnets without a vpc", func(c *Config) { c.Network.PrivateSubnetIDs = []string{testSNa, testSNb} },
			"eksnet:network.privateSubnetIds: set without eksnet:network.vpcId"},
		{"bad vpc id", func(c *Config) { byo(c); c.Network.VPCID = "vpc-123" },
			`eksnet:network.vpcId "vpc-123": not a VPC ID (vpc- and 8 or 17 hex digits`},
		{"bad subnet id", func(c *Config) { byo(c); c.Network.PublicSubnetIDs = []string{"sn-1"} },
			`eksnet:network.publicSubnetIds "sn-1": not a subnet ID (subnet- and 8 or 17 hex digits`},
		{"one private subnet", func(c *Config) { byo(c); c.Network.PrivateSubnetIDs = []string{testSNa} },
			"eksnet:network.privateSubnetIds: 1 given with eksnet:network.vpcId; the nodes need private subnets in at least 2 availability zones"},
		{"subnet in two roles", func(c *Config) { byo(c); c.Network.PublicSubnetIDs = []string{testSNa} },
			`eksnet:network.publicSubnetIds "subnet-0aaaaaaaaaaaaaaa1": also listed in eksnet:network.privateSubnetIds`},
		{"pod cidr in an existing vpc", func(c *Config) {
			byo(c)
			c.CNI.Mode, c.Network.PodCIDR, c.Network.PodSubnetBits = CNIAWSVPC, "100.64.0.0/16", 18
		}, `eksnet:network.podCidr "100.64.0.0/16" with eksnet:network.vpcId: the stack adds no CIDR block to an existing VPC`},
		{"pod subnets with the agent", func(c *Config) { byo(c); c.Network.PodSubnetIDs = []string{"subnet-0ccccccccccccccc3"} },
			"eksnet:network.podSubnetIds: custom networking (pods on separate subnets) is supported with the AWS VPC CNI only"},
		{"demo alb without public subnets", func(c *Config) { byo(c); c.Addons.DemoAllowedCIDRs = []string{"203.0.113.0/24"} },
			"eksnet:addons.demoApp true with eksnet:network.vpcId and no eksnet:network.publicSubnetIds"},
		{"nat none still needs the private endpoint", func(c *Config) { byo(c); c.Network.NAT = NATNone },
			"eksnet:cluster.endpointPrivateAccess false with eksnet:network.nat none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustPreset(t, PresetDev)
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// TestExistingVPCKeysThroughSet: the keys are settable with eksnet stack
// set (pulumi config set --path) and read back by get.
func TestExistingVPCKeysThroughSet(t *testing.T) {
	root := t.TempDir()
	path := FilePath(root, "dev")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("config:\n  aws:region: us-west-2\n  eksnet:preset: dev\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Set(root, "dev",
		Setting{Key: "network.vpcId", Value: testVPC},
		Setting{Key: "network.privateSubnetIds[0]", Value: testSNa},
		Setting{Key: "network.privateSubnetIds[1]", Value: testSNb}); err != nil {
		t.Fatal(err)
	}
	cfg := mustLoad(t, root)
	if got, err := Get(cfg, "network.privateSubnetIds"); err != nil || got != `["`+testSNa+`","`+testSNb+`"]` {
		t.Fatalf("get network.privateSubnetIds = %s, %v", got, err)
	}
	if got, _ := Get(cfg, "network.vpcId"); got != testVPC || !cfg.ExistingVPC() {
		t.Fatalf("get network.vpcId = %s", got)
	}
	if _, err := Set(root, "dev", Setting{Key: "network.vpcId", Value: "vpc-nothex"}); err == nil || !strings.Contains(err.Error(), `eksnet:network.vpcId "vpc-nothex": not a VPC ID`) {
		t.Fatalf("set a bad vpcId: %v", err)
	}
}
