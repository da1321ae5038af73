package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/infra/cidrplan"
	"github.com/eksnet/eksnet/stacks"
)

func mustRun(t *testing.T, preset string) *Plan {
	t.Helper()
	cfg, err := stacks.Preset(preset, preset, "eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func text(t *testing.T, p *Plan) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteText(&buf, p); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestPlanIsDeterministic: the program registers resources concurrently,
// yet two plans of the same stack must print the same bytes (diffable in
// review, stable for the simulated VPC).
func TestPlanIsDeterministic(t *testing.T) {
	a, b := text(t, mustRun(t, "staging")), text(t, mustRun(t, "staging"))
	if a != b {
		t.Fatalf("two plans differ:\n%s\n----\n%s", a, b)
	}
}

func TestPlanStaging(t *testing.T) {
	p := mustRun(t, "staging")
	if p.VPCCIDR != "10.0.0.0/16" || p.NAT != stacks.NATSingle || len(p.Subnets) != 6 {
		t.Fatalf("plan %+v", p)
	}
	for _, s := range p.Subnets {
		if !strings.HasPrefix(s.ID, "subnet-") || !strings.HasPrefix(s.AZ, "eu-central-1") {
			t.Errorf("subnet %+v", s)
		}
		if (s.Role == cidrplan.Private) != (s.Reservation != "") {
			t.Errorf("prefix mode: subnet %s role %s reservation %q", s.Name, s.Role, s.Reservation)
		}
	}
	ng := p.NodeGroups[0]
	// m5.large and m6i.large both reach the 110 cap in prefix mode.
	if ng.MaxPods != 110 || ng.LimitedBy != "m5.large" || !strings.Contains(ng.MaxPodsReason, "3 ENIs x (10 IPs - 1) x 16 + 1 = 433, capped at 110: kubelet limit for instances with <= 30 vCPUs (m5.large has 2)") {
		t.Errorf("max pods %d limited by %s: %s", ng.MaxPods, ng.LimitedBy, ng.MaxPodsReason)
	}
	if len(ng.Subnets) != 3 || len(ng.AZs) != 3 || len(ng.PodSubnets) != 3 || ng.Arch != "amd64" {
		t.Errorf("node group placement %+v", ng)
	}
	a := ng.CNI.Agent
	if a == nil || !a.Placeholder || a.Env["EKSNET_MODE"] != "prefix" || a.Env["EKSNET_WARM_PREFIX_TARGET"] != "1" || a.Env["EKSNET_MAX_PODS"] != "110" {
		t.Fatalf("agent settings %+v", a)
	}
	for _, c := range p.Capacity {
		// 6 nodes over 3 AZs = 2 per subnet; ceil(108/16) = 7 prefixes each.
		if c.MaxNodes != 2 || c.PrefixesNeeded != 14 || c.PrefixRoom != 256 || !c.Fits {
			t.Errorf("capacity %+v", c)
		}
	}
	out := text(t, p)
	for _, want := range []string{
		"eksnet:infra:Network network\n    aws:ec2/eip:Eip network-nat-eu-central-1a\n    aws:ec2/internetGateway:InternetGateway network",
		"aws:ec2/subnetCidrReservation:SubnetCidrReservation network-private-eu-central-1a-prefixes  cidrBlock=\"10.0.16.0/20\" reservationType=\"prefix\"",
		"private-eu-central-1a  10.0.0.0/19   2          4091       2       256       14          yes",
		"CNI agent with /28 prefixes",
		"(placeholder: set eksnet:cni.agent.amd64Path before up)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text plan lacks %q:\n%s", want, out)
		}
	}
}

func TestPlanProdShowsProtection(t *testing.T) {
	p := mustRun(t, "prod")
	protected := map[string]bool{}
	for _, r := range p.Resources {
		if r.Protect {
			protected[r.Type] = true
		}
	}
	for _, typ := range []string{"aws:ec2/vpc:Vpc", "eks:index:Cluster", "aws:kms/key:Key", "aws:s3/bucketV2:BucketV2"} {
		if !protected[typ] {
			t.Errorf("%s not protected in prod plan", typ)
		}
	}
	if !strings.Contains(text(t, p), "aws:ec2/vpc:Vpc network [protect]") {
		t.Error("text plan does not flag protected resources")
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, p); err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.NodeGroups[0].MaxPods != p.NodeGroups[0].MaxPods || len(back.Resources) != len(p.Resources) || back.NodeGroups[0].CNI.Agent.SHA256 == "" {
		t.Errorf("json round trip lost data: %+v", back.NodeGroups[0])
	}
}

func TestUserDataReadersRejectGarbage(t *testing.T) {
	if _, err := UserDataMaxPods("al2023", "not mime"); err == nil {
		t.Error("UserDataMaxPods(garbage) = nil error")
	}
	if _, err := UserDataMaxPods("al2", "#!/bin/bash\n/etc/eks/bootstrap.sh x"); err == nil || !strings.Contains(err.Error(), "--max-pods") {
		t.Errorf("UserDataMaxPods(al2 without flag) = %v", err)
	}
	if n, err := UserDataMaxPods("bottlerocket", "[settings.kubernetes]\nmax-pods = 29\n"); err != nil || n != 29 {
		t.Errorf("UserDataMaxPods(bottlerocket) = %d, %v", n, err)
	}
	if _, err := UserDataMaxPods("windows", ""); err == nil {
		t.Error("UserDataMaxPods(windows) = nil error")
	}
	if _, err := UserDataAgent("not mime"); err == nil {
		t.Error("UserDataAgent(garbage) = nil error")
	}
}
