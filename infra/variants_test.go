package infra_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/bootstrap/bundle"
	"github.com/eksnet/eksnet/bootstrap/maxpods"
	"github.com/eksnet/eksnet/infra"
	"github.com/eksnet/eksnet/infra/plan"
	"github.com/eksnet/eksnet/stacks"
)

// TestAWSVPCCNICustomNetworking covers the other CNI mode: the add-on is
// configured through VpcCniOptions, pods get subnets in the secondary
// CIDR with one ENIConfig per AZ, max pods leaves out the primary ENI,
// and no agent bucket or agent policy exists.
func TestAWSVPCCNICustomNetworking(t *testing.T) {
	cfg := preset(t, stacks.PresetStaging)
	cfg.CNI.Mode = stacks.CNIAWSVPC
	cfg.CNI.PrefixDelegation = false
	cfg.CNI.WarmIPTarget = 5
	cfg.CNI.MinimumIPTarget = 10
	cfg.Network.PodCIDR = "100.64.0.0/16"
	cfg.Network.PodSubnetBits = 18
	cfg.Network.PrivateSubnetBits = 22
	st, m := run(t, cfg)

	if n := len(m.ByType(tBucket)); n != 0 || st.Agent != nil {
		t.Errorf("aws-vpc-cni mode created %d agent buckets", n)
	}
	if len(m.ByType(tRolePol)) != 0 {
		t.Error("aws-vpc-cni mode has the agent's inline policy")
	}
	pods := 0
	for _, s := range m.ByType(tSubnet) {
		if strings.HasPrefix(str(s.Inputs["cidrBlock"]), "100.64.") {
			pods++
			if !containsDep(s.DependsOn, one(t, m, "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation", "network-pods").URN) {
				t.Errorf("pod subnet %s created before the secondary CIDR is associated", s.Name)
			}
		}
	}
	if pods != 3 {
		t.Errorf("%d pod subnets, want 3", pods)
	}
	eniConfigs := m.ByType("kubernetes:crd.k8s.amazonaws.com/v1alpha1:ENIConfig")
	if len(eniConfigs) != 3 {
		t.Fatalf("%d ENIConfigs, want one per AZ", len(eniConfigs))
	}
	for _, ec := range eniConfigs {
		az := str(obj(ec.Inputs["metadata"])["name"])
		subnet := one(t, m, tSubnet, "network-pod-"+az)
		if str(obj(ec.Inputs["spec"])["subnet"]) != subnet.ID {
			t.Errorf("ENIConfig %s points at %v, want pod subnet %s", az, ec.Inputs["spec"], subnet.ID)
		}
		// Pods must carry the nodes' group: EKS gives managed node group
		// instances its cluster security group when the launch template
		// names none, and pulumi-eks returns that group only with
		// skipDefaultSecurityGroups (the mock models both).
		if sgs := obj(ec.Inputs["spec"])["securityGroups"]; !reflect.DeepEqual(sgs, []any{plan.MockEKSClusterSecurityGroup(cfg.ClusterName)}) {
			t.Errorf("ENIConfig %s security groups %v, want the EKS cluster security group %s the nodes carry", az, sgs, plan.MockEKSClusterSecurityGroup(cfg.ClusterName))
		}
	}
	for _, lt := range m.ByType(tLT) {
		if sgs, ok := lt.Inputs["vpcSecurityGroupIds"]; ok && sgs != nil {
			t.Errorf("launch template %s names security groups %v: nodes would leave the EKS cluster group the ENIConfigs give pods", lt.Name, sgs)
		}
	}
	cni := obj(m.ByType(tCluster)[0].Inputs["vpcCniOptions"])
	if cni["customNetworkConfig"] != true || str(cni["eniConfigLabelDef"]) != "topology.kubernetes.io/zone" || cni["warmIpTarget"] != float64(5) {
		t.Errorf("vpc cni options %v", cni)
	}
	if env := obj(obj(cni["configurationValues"])["env"]); str(env["MINIMUM_IP_TARGET"]) != "10" {
		t.Errorf("MINIMUM_IP_TARGET not passed to the add-on: %v", cni["configurationValues"])
	}
	want, err := maxpods.Default().CalculateGroup(cfg.NodeGroups[0].InstanceTypes, maxpods.Options{CustomNetworking: true})
	if err != nil {
		t.Fatal(err)
	}
	checkNodeGroups(t, cfg, st, m)
	if st.NodeGroups[0].Pods.Result.MaxPods != want.MaxPods || want.MaxPods >= 29 {
		t.Errorf("custom networking max pods %d, calculator %d", st.NodeGroups[0].Pods.Result.MaxPods, want.MaxPods)
	}
	checkOrdering(t, m)
	checkNodeIAM(t, cfg, m)
}

func containsDep(deps []string, urn string) bool {
	for _, d := range deps {
		if d == urn {
			return true
		}
	}
	return false
}

// fakeNode is a node bundle's contents: agent as the agent, fakes for the
// other members.
func fakeNode(agent, arch string) map[string][]byte {
	c := map[string][]byte{}
	for _, m := range bundle.Members {
		c[m] = []byte("\x7fELF fake " + m + " for " + arch)
	}
	c[bundle.AgentMember] = []byte(agent)
	return c
}

// TestAgentBuildsFromFiles uploads real node bundles and checks user data
// carries their digests, and that a wrong configured digest or a file that
// is not a bundle (the bare agent binary nodes used to get) stops the
// program, naming the config key.
func TestAgentBuildsFromFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := preset(t, stacks.PresetDev)
	cfg.CNI.Agent.Version = "v1.2.3"
	sums := map[string]string{}
	for _, arch := range infra.Architectures {
		p := filepath.Join(dir, bundle.FileName(arch))
		body, err := bundle.PackNode(fakeNode("\x7fELF fake agent for "+arch, arch))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		sums[arch] = hex.EncodeToString(sum[:])
		if arch == "amd64" {
			cfg.CNI.Agent.AMD64Path, cfg.CNI.Agent.AMD64SHA256 = p, sums[arch]
		} else {
			cfg.CNI.Agent.ARM64Path = p
		}
	}
	_, m := run(t, cfg)
	o := one(t, m, tObject, "agent-amd64")
	if asset := obj(o.Inputs["source"]); str(asset["asset"]) != cfg.CNI.Agent.AMD64Path {
		t.Errorf("object source %v, want the file asset %s", o.Inputs["source"], cfg.CNI.Agent.AMD64Path)
	}
	wantKey := "eksnet-node/v1.2.3/linux-amd64/" + sums["amd64"] + "/eksnet-node.tar.gz"
	if str(o.Inputs["key"]) != wantKey || str(o.Inputs["contentType"]) != "application/gzip" {
		t.Errorf("object key %v content type %v, want %s as application/gzip", o.Inputs["key"], o.Inputs["contentType"], wantKey)
	}
	if !o.RetainOnDelete {
		t.Error("the node bundle object is not retained on delete: replacing it would delete what older launch template versions fetch")
	}
	lt := one(t, m, tLT, "ng-general")
	raw, _ := base64.StdEncoding.DecodeString(str(lt.Inputs["userData"]))
	a, err := plan.UserDataAgent(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if a.SHA256 != sums["amd64"] || !strings.HasSuffix(a.BinaryURL, "/"+wantKey) {
		t.Errorf("user data agent %+v, want sha %s at %s", a, sums["amd64"], wantKey)
	}

	// A rebuilt bundle with the same version goes to a new key, so the
	// object the previous launch template version names is not overwritten.
	rebuilt, err := bundle.PackNode(fakeNode("\x7fELF rebuilt agent", "amd64"))
	if err != nil {
		t.Fatal(err)
	}
	next := cfg
	next.CNI.Agent.AMD64Path, next.CNI.Agent.AMD64SHA256 = filepath.Join(dir, "rebuilt-"+bundle.FileName("amd64")), ""
	if err := os.WriteFile(next.CNI.Agent.AMD64Path, rebuilt, 0o644); err != nil {
		t.Fatal(err)
	}
	_, m2 := run(t, next)
	nextKey := str(one(t, m2, tObject, "agent-amd64").Inputs["key"])
	rsum := sha256.Sum256(rebuilt)
	if nextKey == wantKey || nextKey != "eksnet-node/v1.2.3/linux-amd64/"+hex.EncodeToString(rsum[:])+"/eksnet-node.tar.gz" {
		t.Errorf("rebuilt bundle key %s (previous %s), want a key naming its own digest", nextKey, wantKey)
	}
	lt2 := one(t, m2, tLT, "ng-general")
	raw2, _ := base64.StdEncoding.DecodeString(str(lt2.Inputs["userData"]))
	if a2, err := plan.UserDataAgent(string(raw2)); err != nil || !strings.HasSuffix(a2.BinaryURL, "/"+nextKey) {
		t.Errorf("user data after the rebuild fetches %+v (%v), want %s", a2, err, nextKey)
	}

	wrong := cfg
	wrong.CNI.Agent.AMD64SHA256 = strings.Repeat("0", 64)
	_, err = plan.Execute(context.Background(), wrong, plan.NewMocks(plan.Project, cfg.Env, cfg.Region))
	if err == nil || !strings.Contains(err.Error(), "eksnet:cni.agent.amd64Sha256") || !strings.Contains(err.Error(), sums["amd64"]) {
		t.Fatalf("wrong digest: err %v", err)
	}

	bare := filepath.Join(dir, "eksnet-agent")
	if err := os.WriteFile(bare, []byte("\x7fELF the agent binary alone"), 0o755); err != nil {
		t.Fatal(err)
	}
	notBundle := cfg
	notBundle.CNI.Agent.ARM64Path = bare
	_, err = plan.Execute(context.Background(), notBundle, plan.NewMocks(plan.Project, cfg.Env, cfg.Region))
	if err == nil || !strings.Contains(err.Error(), "eksnet:cni.agent.arm64Path "+bare+": not an eksnet node bundle") || !strings.Contains(err.Error(), "eksnet bundle --arch arm64") {
		t.Fatalf("bare binary as the arm64 bundle: err %v, want it to name eksnet:cni.agent.arm64Path and eksnet bundle", err)
	}
}

// TestOtherOperatingSystems checks max pods reaches kubelet on AL2 and
// Bottlerocket too (Bottlerocket runs the AWS VPC CNI: it has no shell
// user data to install the agent).
func TestOtherOperatingSystems(t *testing.T) {
	for _, tt := range []struct{ os, version, mode, param string }{
		// AL2 AMIs end at 1.32 (see testdata/eks-ami-ssm).
		{"al2", "1.32", stacks.CNIAgent, "/aws/service/eks/optimized-ami/1.32/amazon-linux-2/recommended/image_id"},
		{"bottlerocket", "1.33", stacks.CNIAWSVPC, "/aws/service/bottlerocket/aws-k8s-1.33/x86_64/latest/image_id"},
	} {
		t.Run(tt.os, func(t *testing.T) {
			cfg := preset(t, stacks.PresetDev)
			cfg.KubernetesVersion = tt.version
			cfg.CNI.Mode = tt.mode
			cfg.NodeGroups[0].OS = tt.os
			st, m := run(t, cfg)
			lt := one(t, m, tLT, "ng-general")
			raw, _ := base64.StdEncoding.DecodeString(str(lt.Inputs["userData"]))
			got, err := plan.UserDataMaxPods(tt.os, string(raw))
			// t3.medium: 15 pod addresses + the host-network pods of the CNI
			// (kube-proxy; and aws-node with aws-vpc-cni), AWS's 17 for the latter.
			want := 17
			if tt.mode == stacks.CNIAgent {
				want = 16
			}
			if err != nil || got != want {
				t.Errorf("max pods in %s user data = %d, %v; want %d (t3.medium, %s)", tt.os, got, err, want, tt.mode)
			}
			if st.NodeGroups[0].AMIParameter != tt.param {
				t.Errorf("AMI parameter %s, want %s", st.NodeGroups[0].AMIParameter, tt.param)
			}
		})
	}
}

func TestBuildRejectsInvalidConfig(t *testing.T) {
	cfg := preset(t, stacks.PresetDev)
	cfg.Network.NAT = "sometimes"
	m := plan.NewMocks(plan.Project, cfg.Env, cfg.Region)
	_, err := plan.Execute(context.Background(), cfg, m)
	if err == nil || !strings.Contains(err.Error(), `eksnet:network.nat "sometimes": accepted values are none, single, per-az`) {
		t.Fatalf("err = %v", err)
	}
	if n := len(m.Registrations()); n != 0 {
		t.Errorf("%d resources registered before validation failed", n)
	}
}

func TestPureHelpers(t *testing.T) {
	for _, tt := range []struct{ v, os, arch, want, err string }{
		{"1.32", "windows", "amd64", "", `os "windows": accepted values are al2023, al2, bottlerocket`},
		{"1.32", "al2023", "riscv64", "", `architecture "riscv64"`},
	} {
		got, err := infra.AMIParameter(tt.v, tt.os, tt.arch)
		if got != tt.want || (tt.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("AMIParameter(%s,%s,%s) = %q, %v", tt.v, tt.os, tt.arch, got, err)
		}
	}
	for region, want := range map[string]string{"us-west-2": "aws", "cn-north-1": "aws-cn", "us-gov-west-1": "aws-us-gov"} {
		if got := infra.Partition(region); got != want {
			t.Errorf("Partition(%s) = %s", region, got)
		}
	}
	ep, ca, err := infra.KubeconfigAccess(`{"clusters":[{"cluster":{"server":"https://x","certificate-authority-data":"Y2E="}}]}`)
	if err != nil || ep != "https://x" || ca != "Y2E=" {
		t.Errorf("KubeconfigAccess = %s %s %v", ep, ca, err)
	}
	if _, _, err := infra.KubeconfigAccess(`{"clusters":[]}`); err == nil {
		t.Error("KubeconfigAccess(no clusters) = nil error")
	}
	for _, s := range infra.LoadBalancerControllerPolicy("aws").Statement {
		for _, a := range s.Action {
			if strings.Contains(a, "*") {
				t.Errorf("LB controller policy statement %s has wildcard action %s", s.Sid, a)
			}
		}
	}
}

// TestWarmENITargetReachesTheAgent sets eksnet:cni.warmEniTarget the way a
// stack does and reads it back from the agent.env the node's user data
// writes: it used to be accepted and then dropped, so the agent silently
// kept its default of one ENI.
func TestWarmENITargetReachesTheAgent(t *testing.T) {
	for _, tc := range []struct {
		cni  string
		want string // "" means no line: the agent's default applies
	}{
		{`{"warmIpTarget": 0, "minimumIpTarget": 0, "warmEniTarget": 2}`, "2"},
		{`{"warmIpTarget": 0, "minimumIpTarget": 0}`, ""},
	} {
		cfg, err := stacks.Resolve("dev", map[string]string{"aws:region": "us-west-2", "eksnet:preset": stacks.PresetDev, "eksnet:cni": tc.cni}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("eksnet:cni %s: %v", tc.cni, err)
		}
		_, m := run(t, cfg)
		lt := one(t, m, tLT, "ng-general")
		raw, _ := base64.StdEncoding.DecodeString(str(lt.Inputs["userData"]))
		a, err := plan.UserDataAgent(string(raw))
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := a.Env["EKSNET_WARM_ENI_TARGET"]; got != tc.want || ok != (tc.want != "") {
			t.Errorf("eksnet:cni %s: agent.env EKSNET_WARM_ENI_TARGET = %q (present %v), want %q; agent.env %v", tc.cni, got, ok, tc.want, a.Env)
		}
	}
}
