package reliability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/stacks"
)

// presetCases are bad stacks/Pulumi.<env>.yaml files: what `eksnet stack
// new` writes and `pulumi config set` edits. want is the exact error of
// loading the stack (stacks.Load) and, when it loads, validating it
// (Config.Validate), which the CLI and the stack program both run before
// any cloud call. The path in the message is the file's base name.
var presetCases = []struct{ name, yaml, want string }{
	{"not yaml", "config: [1, 2\n", "stack bad: stacks/Pulumi.bad.yaml: line 1, column 10: did not find expected ',' or ']'"},
	{"key without namespace", "config:\n  region: us-west-2\n", "stacks/Pulumi.bad.yaml: config key \"region\": want namespace:key (e.g. eksnet:network)"},
	{"unknown key", "config:\n  aws:region: us-west-2\n  eksnet:netwrok: {}\n", "stack bad: stacks/Pulumi.bad.yaml: line 3, column 3: config key eksnet:netwrok: unknown (did you mean eksnet:network?); accepted keys are eksnet:preset, eksnet:clusterName, eksnet:kubernetesVersion, eksnet:network, eksnet:cluster, eksnet:cni, eksnet:nodeGroups, eksnet:addons, eksnet:protect"},
	{"unknown preset", "config:\n  aws:region: us-west-2\n  eksnet:preset: huge\n", "stacks/Pulumi.bad.yaml: eksnet:preset \"huge\": accepted values are dev, staging, prod"},
	{"unknown field in network", "config:\n  aws:region: us-west-2\n  eksnet:network:\n    cidr: 10.0.0.0/16\n", "stack bad: stacks/Pulumi.bad.yaml: line 4, column 5: config key eksnet:network.cidr: unknown field; accepted fields here are vpcCidr, azCount, availabilityZones, publicSubnetBits, privateSubnetBits, nat, podCidr, podSubnetBits, vpcId, privateSubnetIds, publicSubnetIds, podSubnetIds"},
	{"node groups not a list", "config:\n  aws:region: us-west-2\n  eksnet:nodeGroups: many\n", "stack bad: stacks/Pulumi.bad.yaml: line 3, column 22: config key eksnet:nodeGroups: want a list of mappings, got \"many\""},
	{"secret value", "config:\n  aws:region: us-west-2\n  eksnet:clusterName:\n    secure: AAABAGVrc25ldA==\n", "stacks/Pulumi.bad.yaml: config key eksnet:clusterName: secret values are not supported for eksnet settings"},
	{"vpc cidr not a cidr", "config:\n  aws:region: us-west-2\n  eksnet:network:\n    vpcCidr: 10.0.0.0/33\n", "eksnet:network.vpcCidr \"10.0.0.0/33\": not a CIDR block (e.g. 10.0.0.0/16)"},
	{"nat mode unknown", "config:\n  aws:region: us-west-2\n  eksnet:network:\n    nat: sometimes\n", "eksnet:network.nat \"sometimes\": accepted values are none, single, per-az"},
	{"unknown instance type", "config:\n  aws:region: us-west-2\n  eksnet:nodeGroups:\n    - name: general\n      instanceTypes: [m9.mega]\n      minSize: 1\n      maxSize: 2\n      desiredSize: 1\n", "eksnet:nodeGroups[0].instanceTypes: unknown instance type \"m9.mega\": accepted values are the 1391 EC2 instance types in the embedded table"},
	{"prefix delegation on xen", "config:\n  aws:region: us-west-2\n  eksnet:cni:\n    mode: agent\n    prefixDelegation: true\n  eksnet:nodeGroups:\n    - name: general\n      instanceTypes: [m4.large]\n      minSize: 1\n      maxSize: 2\n      desiredSize: 1\n", "eksnet:nodeGroups[0].instanceTypes: m4.large runs on the xen hypervisor, but eksnet:cni.prefixDelegation is true and /28 prefixes need Nitro or bare-metal types; use a Nitro type (e.g. m5.large, t3.medium) or set prefixDelegation to false"},
	{"service cidr overlaps vpc", "config:\n  aws:region: us-west-2\n  eksnet:cluster:\n    serviceCidr: 10.0.0.0/16\n", "eksnet:cluster.serviceCidr 10.0.0.0/16 overlaps eksnet:network.vpcCidr 10.0.0.0/16; the ranges must be disjoint"},
	{"nat without public subnets", "config:\n  aws:region: us-west-2\n  eksnet:network:\n    nat: single\n    publicSubnetBits: 0\n", "eksnet:network.nat \"single\": NAT gateways live in public subnets but eksnet:network.publicSubnetBits is 0 (no public subnets); set publicSubnetBits (e.g. 24)"},
	{"private subnets larger than the vpc", "config:\n  aws:region: us-west-2\n  eksnet:network:\n    vpcCidr: 10.0.0.0/24\n", "eksnet:network: private subnet prefix /20: larger than the block 10.0.0.0/24 it is cut from; use a prefix length of 24 to 28, or a larger block"},
}

// TestBadPresets loads and validates each bad stack file from a directory
// of its own: the exact error, and the file byte-for-byte unchanged with
// nothing else written beside it.
func TestBadPresets(t *testing.T) {
	for _, c := range presetCases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			path := stacks.FilePath(root, "bad")
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := stacks.Load(root, "bad")
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil {
				t.Fatalf("accepted:\n%s", c.yaml)
			}
			if got := rel(err.Error(), root); got != c.want {
				t.Errorf("error:\n got %q\nwant %q", got, c.want)
			}
			if b, rerr := os.ReadFile(path); rerr != nil || string(b) != c.yaml {
				t.Errorf("the stack file changed: %v\n%s", rerr, b)
			}
			var files []string
			_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					files = append(files, p)
				}
				return nil
			})
			if len(files) != 1 {
				t.Errorf("files under the stack root: %v, want only %s", files, path)
			}
		})
	}
}

// rel replaces the per-run directory in msg so the table can be exact.
func rel(msg, root string) string {
	return strings.ReplaceAll(msg, root+string(filepath.Separator), "")
}
