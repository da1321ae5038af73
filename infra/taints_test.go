package infra_test

import (
	"encoding/base64"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/eksnet/eksnet/bootstrap/userdata"
	"github.com/eksnet/eksnet/stacks"
)

// TestTaintsRegisteredByKubelet: a node group's taints must be on the node
// from registration, where kubelet reads them (NodeConfig
// kubelet.config.registerWithTaints, the KubeletConfiguration field;
// AL2 --register-with-taints; Bottlerocket settings.kubernetes.node-taints),
// not only on the managed node group, which EKS applies after pods may
// already have landed.
func TestTaintsRegisteredByKubelet(t *testing.T) {
	for _, tc := range []struct{ os, version, mode string }{
		{"al2023", "1.33", stacks.CNIAgent}, {"al2", "1.32", stacks.CNIAgent}, {"bottlerocket", "1.33", stacks.CNIAWSVPC},
	} {
		cfg := preset(t, stacks.PresetDev)
		cfg.KubernetesVersion, cfg.CNI.Mode = tc.version, tc.mode
		cfg.NodeGroups[0].OS = tc.os
		cfg.NodeGroups[0].Taints = []stacks.Taint{{Key: "dedicated", Value: "gpu", Effect: "NO_SCHEDULE"}, {Key: "example.com/drain", Effect: "NO_EXECUTE"}}
		_, m := run(t, cfg)
		raw, _ := base64.StdEncoding.DecodeString(str(one(t, m, tLT, "ng-general").Inputs["userData"]))
		ud := string(raw)
		want := []userdata.Taint{{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"}, {Key: "example.com/drain", Effect: "NoExecute"}}
		switch tc.os {
		case "al2023":
			nc, err := userdata.ParseNodeConfig(ud)
			if err != nil {
				t.Fatal(err)
			}
			if got := nc.Spec.Kubelet.Config.RegisterWithTaints; !reflect.DeepEqual(got, want) {
				t.Errorf("al2023 registerWithTaints %+v, want %+v", got, want)
			}
		case "al2":
			if !strings.Contains(ud, "--register-with-taints=dedicated=gpu:NoSchedule,example.com/drain=:NoExecute") {
				t.Errorf("al2 bootstrap.sh lacks --register-with-taints:\n%s", ud)
			}
		case "bottlerocket":
			var s struct {
				Settings struct {
					Kubernetes struct {
						NodeTaints map[string][]string `toml:"node-taints"`
					} `toml:"kubernetes"`
				} `toml:"settings"`
			}
			if _, err := toml.Decode(ud, &s); err != nil {
				t.Fatalf("bottlerocket settings: %v", err)
			}
			if got := s.Settings.Kubernetes.NodeTaints; !reflect.DeepEqual(got, map[string][]string{"dedicated": {"gpu:NoSchedule"}, "example.com/drain": {":NoExecute"}}) {
				t.Errorf("bottlerocket node-taints %v", got)
			}
		}
	}
	cfg := preset(t, stacks.PresetDev)
	cfg.NodeGroups[0].Taints = []stacks.Taint{{Key: "bad key!", Effect: "NO_SCHEDULE"}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `eksnet:nodeGroups[0].taints "bad key!"`) {
		t.Errorf("bad taint key: Validate() = %v", err)
	}
}

// TestDesiredSizeAppliedUnlessAutoscaled: without an autoscaler, an update
// must carry eksnet:nodeGroups[i].desiredSize to EKS; ignoring it (as the
// program did for every group) froze the group at its first size.
func TestDesiredSizeAppliedUnlessAutoscaled(t *testing.T) {
	for _, autoscaled := range []bool{false, true} {
		cfg := preset(t, stacks.PresetDev)
		cfg.NodeGroups[0].Autoscaled = autoscaled
		_, m := run(t, cfg)
		ng := one(t, m, tMNG, "ng-general")
		ignored := slices.Contains(ng.IgnoreChanges, "scalingConfig.desiredSize")
		if ignored != autoscaled {
			t.Errorf("autoscaled %v: node group ignores %v", autoscaled, ng.IgnoreChanges)
		}
	}
}

// TestClusterAdminsGetAccessEntries: each eksnet:cluster.admins ARN gets
// an access entry with EKS's cluster-admin access policy at cluster scope
// (pulumi-eks v3.9.1 ClusterArgs.accessEntries), so more than the creating
// identity can reach the cluster; a malformed ARN is refused by field.
func TestClusterAdminsGetAccessEntries(t *testing.T) {
	cfg := preset(t, stacks.PresetStaging)
	cfg.Cluster.Admins = []string{"arn:aws:iam::123456789012:role/platform", "arn:aws:iam::123456789012:user/alice"}
	_, m := run(t, cfg)
	entries := obj(one(t, m, tCluster, "cluster").Inputs["accessEntries"])
	if len(entries) != 2 {
		t.Fatalf("access entries %v, want 2", entries)
	}
	var principals []string
	for _, e := range entries {
		pol := obj(obj(obj(e)["accessPolicies"])["cluster-admin"])
		if str(pol["policyArn"]) != "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy" || str(obj(pol["accessScope"])["type"]) != "cluster" {
			t.Errorf("access entry %v", e)
		}
		principals = append(principals, str(obj(e)["principalArn"]))
	}
	slices.Sort(principals)
	if !slices.Equal(principals, []string{"arn:aws:iam::123456789012:role/platform", "arn:aws:iam::123456789012:user/alice"}) {
		t.Errorf("principals %v", principals)
	}
	cfg.Cluster.Admins = []string{"alice"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `eksnet:cluster.admins "alice": not an IAM role or user ARN`) {
		t.Errorf("Validate() = %v", err)
	}
}

// TestPinnedAMIStopsTheLookup: with nodeGroups[i].amiId the launch
// template uses that AMI and the program never reads the floating SSM
// parameter, so an AMI release cannot roll the group unasked.
func TestPinnedAMIStopsTheLookup(t *testing.T) {
	cfg := preset(t, stacks.PresetDev)
	cfg.NodeGroups[0].AMIID = "ami-0123456789abcdef0"
	_, m := run(t, cfg)
	if got := str(one(t, m, tLT, "ng-general").Inputs["imageId"]); got != "ami-0123456789abcdef0" {
		t.Errorf("launch template image %s, want the pinned AMI", got)
	}
	for _, c := range m.Calls() {
		if strings.HasPrefix(c.Token, "aws:ssm/") {
			t.Errorf("pinned AMI still read %s %v", c.Token, c.Args)
		}
	}
	cfg.NodeGroups[0].AMIID = "ami-xyz"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `eksnet:nodeGroups[0].amiId "ami-xyz"`) {
		t.Errorf("Validate() = %v", err)
	}
}
