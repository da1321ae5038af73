package infra_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/eksnet/eksnet/infra"
	"github.com/eksnet/eksnet/infra/plan"
	"github.com/eksnet/eksnet/internal/stacktest"
)

// runProgram runs infra.Program (what cmd/stack runs) with Pulumi config as
// the engine would pass it from Pulumi.<stack>.yaml.
func runProgram(t *testing.T, stack string, config map[string]string) (*plan.Mocks, error) {
	return runProgramMode(t, stack, config, true)
}

func runProgramMode(t *testing.T, stack string, config map[string]string, dryRun bool) (*plan.Mocks, error) {
	t.Helper()
	m := plan.NewMocks(plan.Project, stack, config["aws:region"])
	pctx, err := pulumi.NewContext(context.Background(), pulumi.RunInfo{Project: plan.Project, Stack: stack, Config: config, Mocks: m, DryRun: dryRun})
	if err != nil {
		t.Fatal(err)
	}
	defer pctx.Close()
	return m, pulumi.RunWithContext(pctx, infra.Program(config))
}

// TestProgramReadsPulumiConfig: `pulumi config set` values reach the
// program, structured ones (set with --path) merged over the preset.
func TestProgramReadsPulumiConfig(t *testing.T) {
	m, err := runProgram(t, "team-a", map[string]string{
		"aws:region":        "eu-west-1",
		"eksnet:preset":     "staging",
		"eksnet:network":    `{"nat":"per-az","vpcCidr":"10.20.0.0/16"}`,
		"eksnet:nodeGroups": `[{"maxSize":9}]`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.ByType(tNAT)); n != 3 {
		t.Errorf("%d NAT gateways, want 3 (per-az override)", n)
	}
	vpc := m.ByType(tVPC)[0]
	if vpc.Inputs["cidrBlock"] != "10.20.0.0/16" {
		t.Errorf("vpc cidr %v", vpc.Inputs["cidrBlock"])
	}
	for _, s := range m.ByType(tSubnet) {
		if !strings.HasPrefix(str(s.Inputs["availabilityZone"]), "eu-west-1") {
			t.Errorf("subnet %s in %v", s.Name, s.Inputs["availabilityZone"])
		}
	}
	mng := m.ByType(tMNG)[0]
	if sc := obj(mng.Inputs["scalingConfig"]); sc["maxSize"] != float64(9) || sc["minSize"] != float64(2) {
		t.Errorf("node group scaling %v, want max 9 over the staging preset", sc)
	}
	if cl := m.ByType(tCluster)[0]; cl.Inputs["name"] != "eksnet-team-a" {
		t.Errorf("cluster name %v", cl.Inputs["name"])
	}
}

func TestProgramRejectsBadConfig(t *testing.T) {
	for cfg, want := range map[string]map[string]string{
		"aws:region: not set": {"eksnet:preset": "dev"},
		"config key eksnet:network.natt: unknown field; accepted fields here are vpcCidr": {"aws:region": "us-east-1", "eksnet:network": `{"natt":"none"}`},
	} {
		m, err := runProgram(t, "x", want)
		if err == nil || !strings.Contains(err.Error(), cfg) {
			t.Errorf("config %v: err = %v, want %q", want, err, cfg)
		}
		if len(m.Registrations()) != 0 {
			t.Errorf("config %v: resources registered despite the error", want)
		}
	}
}

// TestUpdateRefusesPlaceholderAgent: a real update (not a preview) of an
// agent-mode stack without agent builds stops before registering anything,
// whether it comes from eksnet up or plain pulumi up.
func TestUpdateRefusesPlaceholderAgent(t *testing.T) {
	config := map[string]string{"aws:region": "us-east-1", "eksnet:preset": "dev"}
	m, err := runProgramMode(t, "dev", config, false)
	if err == nil || !strings.Contains(err.Error(), "eksnet:cni.agent.amd64Path (node group general)") {
		t.Fatalf("update with placeholder agent: %v", err)
	}
	if len(m.Registrations()) != 0 {
		t.Error("resources registered before the refusal")
	}
	config["eksnet:cni"] = `{"mode":"aws-vpc-cni"}`
	_, err = runProgramMode(t, "dev", config, false)
	if err == nil || !strings.Contains(err.Error(), "eksnet:cluster.publicAccessCidrs: empty") || !strings.Contains(err.Error(), "eksnet:addons.demoAllowedCidrs: empty") {
		t.Fatalf("update with the endpoint and demo ALB open to the world by default: %v", err)
	}
	config["eksnet:cluster"] = `{"publicAccessCidrs":["203.0.113.7/32"]}`
	config["eksnet:addons"] = `{"demoAllowedCidrs":["203.0.113.7/32"],"demoImage":"` + stacktest.DemoImage + `"}`
	config["eksnet:nodeGroups"] = `[{"amiId":"` + stacktest.AMI(0) + `"}]`
	if _, err := runProgramMode(t, "dev", config, false); err != nil {
		t.Fatalf("aws-vpc-cni update needs no agent build: %v", err)
	}
}

// TestDemoALBAdmitsOnlyNamedCIDRs reads the demo Ingress the controller
// will act on: alb.ingress.kubernetes.io/inbound-cidrs carries the
// configured list, so the ALB's security group admits no one else.
func TestDemoALBAdmitsOnlyNamedCIDRs(t *testing.T) {
	cfg := preset(t, "dev")
	cfg.Addons.DemoAllowedCIDRs = []string{"203.0.113.0/24", "198.51.100.7/32"}
	_, m := run(t, cfg)
	ing := one(t, m, "kubernetes:networking.k8s.io/v1:Ingress", "addons-2048")
	if got := str(obj(objMeta(ing)["annotations"])["alb.ingress.kubernetes.io/inbound-cidrs"]); got != "203.0.113.0/24,198.51.100.7/32" {
		t.Errorf("demo ingress inbound-cidrs %q, want the configured eksnet:addons.demoAllowedCidrs", got)
	}
}

// TestKubeconfigCarriesTheDeployersProfile: the kubeconfig pulumi-eks
// generates (and the Kubernetes provider uses) authenticates with the
// aws:profile the stack deploys with, or the configured role, instead of
// whatever default credentials the reader happens to have.
func TestKubeconfigCarriesTheDeployersProfile(t *testing.T) {
	m, err := runProgram(t, "dev", map[string]string{"aws:region": "eu-west-1", "aws:profile": "platform-admin"})
	if err != nil {
		t.Fatal(err)
	}
	if o := obj(m.ByType(tCluster)[0].Inputs["providerCredentialOpts"]); str(o["profileName"]) != "platform-admin" {
		t.Errorf("providerCredentialOpts %v, want profileName platform-admin from aws:profile", o)
	}
	m, err = runProgram(t, "dev", map[string]string{"aws:region": "eu-west-1", "eksnet:cluster": `{"kubeconfigRoleArn":"arn:aws:iam::123456789012:role/deployer"}`})
	if err != nil {
		t.Fatal(err)
	}
	if o := obj(m.ByType(tCluster)[0].Inputs["providerCredentialOpts"]); str(o["roleArn"]) != "arn:aws:iam::123456789012:role/deployer" {
		t.Errorf("providerCredentialOpts %v, want the configured role", o)
	}
	if _, err := runProgram(t, "dev", map[string]string{"aws:region": "eu-west-1", "eksnet:cluster": `{"kubeconfigRoleArn":"arn:aws:iam::123456789012:user/alice"}`}); err == nil || !strings.Contains(err.Error(), "eksnet:cluster.kubeconfigRoleArn") {
		t.Errorf("user ARN as kubeconfig role: %v", err)
	}
}
