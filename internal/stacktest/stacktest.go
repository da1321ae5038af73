// Package stacktest holds the one fixture every test uses for "a stack an
// update accepts": each update-time refusal (stacks.Config.ValidateExposure,
// stacks.Config.RequirePinned, the agent bundles) is satisfied here, so a
// new refusal is added to this fixture once instead of breaking every
// other package's tests. The values are made up for tests: the digest and
// AMI IDs name no real image.
package stacktest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/eksnet/eksnet/stacks"
)

// CIDR is the documentation range (RFC 5737) the fixtures admit.
const CIDR = "203.0.113.7/32"

// DemoImage is the demo repository at a made-up digest.
var DemoImage = func() string {
	sum := sha256.Sum256([]byte("eksnet test fixture: not a real image"))
	return stacks.DemoImageRepository + "@sha256:" + hex.EncodeToString(sum[:])
}()

// AMI is a made-up AMI ID for node group i (ami- and 17 hex digits).
func AMI(i int) string { return fmt.Sprintf("ami-0%016x", 0xeca0000+i) }

// Deployable returns cfg with everything an update needs besides the agent
// bundles: the API endpoint and demo ALB restricted to CIDR, the demo image
// pinned by digest and every node group's AMI pinned. Agent mode still
// needs bundles (infra.RequireAgentBuilds), so pass an aws-vpc-cni stack
// or set the bundle paths.
func Deployable(cfg stacks.Config) stacks.Config {
	if cfg.Cluster.EndpointPublicAccess && len(cfg.Cluster.PublicAccessCIDRs) == 0 {
		cfg.Cluster.PublicAccessCIDRs = []string{CIDR}
	}
	if cfg.Addons.DemoApp {
		if len(cfg.Addons.DemoAllowedCIDRs) == 0 {
			cfg.Addons.DemoAllowedCIDRs = []string{CIDR}
		}
		if cfg.Addons.DemoImage == "" {
			cfg.Addons.DemoImage = DemoImage
		}
	}
	groups := make([]stacks.NodeGroup, len(cfg.NodeGroups))
	copy(groups, cfg.NodeGroups)
	for i := range groups {
		if groups[i].AMIID == "" {
			groups[i].AMIID = AMI(i)
		}
	}
	cfg.NodeGroups = groups
	return cfg
}

// Settings are Deployable's values as `eksnet stack set ENV KEY VALUE`
// takes them, for a stack of cfg's shape written by `eksnet stack new`.
func Settings(cfg stacks.Config) []stacks.Setting {
	var out []stacks.Setting
	if cfg.Cluster.EndpointPublicAccess {
		out = append(out, stacks.Setting{Key: "cluster.publicAccessCidrs[0]", Value: CIDR})
	}
	if cfg.Addons.DemoApp {
		out = append(out, stacks.Setting{Key: "addons.demoAllowedCidrs[0]", Value: CIDR},
			stacks.Setting{Key: "addons.demoImage", Value: DemoImage})
	}
	for i := range cfg.NodeGroups {
		out = append(out, stacks.Setting{Key: fmt.Sprintf("nodeGroups[%d].amiId", i), Value: AMI(i)})
	}
	return out
}
