package infra_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/infra/plan"
	"github.com/eksnet/eksnet/stacks"
)

const (
	byoVPC = "vpc-0123456789abcdef0"
	byoA   = "subnet-0aaaaaaaaaaaaaaa1"
	byoB   = "subnet-0bbbbbbbbbbbbbbb2"
	byoPA  = "subnet-0ccccccccccccccc3"
	byoPB  = "subnet-0ddddddddddddddd4"
	byoQA  = "subnet-0eeeeeeeeeeeeeee5"
	byoQB  = "subnet-0fffffffffffffff6"
)

// existingVPC is a VPC as a platform team hands it over: 10.1.0.0/16 with
// a secondary 100.64.0.0/16, private and public subnets in two zones,
// tagged for the load balancer controller, and pod subnets.
func existingVPC() *plan.ExistingNetwork {
	sn := func(id, az, cidr, tag string) plan.ExistingSubnet {
		tags := map[string]string{"Name": id}
		if tag != "" {
			tags[tag] = "1"
		}
		return plan.ExistingSubnet{ID: id, VPCID: byoVPC, AZ: az, CIDR: cidr, Tags: tags}
	}
	return &plan.ExistingNetwork{VPCID: byoVPC, CIDRs: []string{"10.1.0.0/16", "100.64.0.0/16"}, DNS: true, Subnets: []plan.ExistingSubnet{
		sn(byoA, "us-west-2a", "10.1.0.0/20", stacks.TagInternalELB), sn(byoB, "us-west-2b", "10.1.16.0/20", stacks.TagInternalELB),
		sn(byoPA, "us-west-2a", "10.1.128.0/24", stacks.TagELB), sn(byoPB, "us-west-2b", "10.1.129.0/24", stacks.TagELB),
		sn(byoQA, "us-west-2a", "100.64.0.0/18", ""), sn(byoQB, "us-west-2b", "100.64.64.0/18", ""),
	}}
}

func byoConfig(t *testing.T) stacks.Config {
	t.Helper()
	cfg := preset(t, stacks.PresetDev)
	cfg.Network.VPCID = byoVPC
	cfg.Network.PrivateSubnetIDs = []string{byoA, byoB}
	cfg.Network.PublicSubnetIDs = []string{byoPA, byoPB}
	return cfg
}

func runExisting(cfg stacks.Config, e *plan.ExistingNetwork) (*plan.Mocks, error) {
	m := plan.NewMocks(plan.Project, cfg.Env, cfg.Region)
	m.Existing = e
	_, err := plan.Execute(context.Background(), cfg, m)
	return m, err
}

// TestExistingVPCIsLookedUpNotCreated: with eksnet:network.vpcId the
// program creates no network, looks the VPC and each subnet up, and runs
// the cluster and node groups in the subnets given.
func TestExistingVPCIsLookedUpNotCreated(t *testing.T) {
	cfg := byoConfig(t)
	m, err := runExisting(cfg, existingVPC())
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{tVPC, tSubnet, tNAT, tRT, tEndpoint, "aws:ec2/internetGateway:InternetGateway"} {
		if n := len(m.ByType(typ)); n != 0 {
			t.Errorf("existing VPC: %d %s registered, want none", n, typ)
		}
	}
	looked := map[string]bool{}
	for _, c := range m.Calls() {
		if c.Token == "aws:ec2/getVpc:getVpc" || c.Token == "aws:ec2/getSubnet:getSubnet" {
			looked[str(c.Args["id"])] = true
		}
	}
	for _, id := range []string{byoVPC, byoA, byoB, byoPA, byoPB} {
		if !looked[id] {
			t.Errorf("%s was not looked up", id)
		}
	}
	cl := m.ByType(tCluster)[0].Inputs
	if cl["vpcId"] != byoVPC || !slices.Equal(cl["privateSubnetIds"].([]any), []any{byoA, byoB}) || !slices.Equal(cl["publicSubnetIds"].([]any), []any{byoPA, byoPB}) {
		t.Errorf("cluster in vpc %v, private %v, public %v", cl["vpcId"], cl["privateSubnetIds"], cl["publicSubnetIds"])
	}
	for _, ng := range m.ByType(tMNG) {
		if !slices.Equal(ng.Inputs["subnetIds"].([]any), []any{byoA, byoB}) {
			t.Errorf("node group %s in %v, want the private subnets", ng.Name, ng.Inputs["subnetIds"])
		}
	}
}

// TestExistingVPCChecksWhatItLooksUp: what the lookups return is judged
// as a created layout would be, each refusal naming its key.
func TestExistingVPCChecksWhatItLooksUp(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*stacks.Config, *plan.ExistingNetwork)
		want   string
	}{
		{"capacity on the real cidrs", func(c *stacks.Config, e *plan.ExistingNetwork) {
			e.Subnets[0].CIDR = "10.1.0.0/27"
		}, "eksnet:network.privateSubnetIds: subnet " + byoA + " 10.1.0.0/27 is too small for max nodes x max pods: 2 nodes need "},
		{"public subnet without the elb tag", func(c *stacks.Config, e *plan.ExistingNetwork) {
			delete(e.Subnets[3].Tags, stacks.TagELB)
		}, "eksnet:network.publicSubnetIds " + byoPB + ": has no tag kubernetes.io/role/elb=1, by which the AWS Load Balancer Controller"},
		{"private subnet without the internal-elb tag", func(c *stacks.Config, e *plan.ExistingNetwork) {
			e.Subnets[1].Tags[stacks.TagInternalELB] = "0"
		}, "eksnet:network.privateSubnetIds " + byoB + ": has no tag kubernetes.io/role/internal-elb=1"},
		{"subnet of another vpc", func(c *stacks.Config, e *plan.ExistingNetwork) {
			e.Subnets[1].VPCID = "vpc-0999999999999999f"
		}, "eksnet:network.privateSubnetIds " + byoB + ": is in VPC vpc-0999999999999999f, not in eksnet:network.vpcId " + byoVPC},
		{"one zone", func(c *stacks.Config, e *plan.ExistingNetwork) {
			e.Subnets[1].AZ = "us-west-2a"
		}, "eksnet:network.privateSubnetIds: all in [us-west-2a]; EKS needs the node subnets in at least 2 availability zones"},
		{"service cidr in the secondary block", func(c *stacks.Config, e *plan.ExistingNetwork) {
			e.CIDRs = append(e.CIDRs, "172.20.0.0/16")
		}, "eksnet:cluster.serviceCidr 172.20.0.0/16 overlaps 172.20.0.0/16, a CIDR block of VPC " + byoVPC},
		{"private endpoint without vpc dns", func(c *stacks.Config, e *plan.ExistingNetwork) {
			c.Cluster.EndpointPrivateAccess, e.DNS = true, false
		}, "eksnet:network.vpcId " + byoVPC + ": enableDnsSupport false, enableDnsHostnames false"},
		{"missing subnet", func(c *stacks.Config, e *plan.ExistingNetwork) {
			c.Network.PrivateSubnetIDs[1] = "subnet-0123012301230123a"
		}, "eksnet:network.privateSubnetIds subnet-0123012301230123a: look up: "},
		{"pod subnets in one zone", func(c *stacks.Config, e *plan.ExistingNetwork) {
			c.CNI.Mode = stacks.CNIAWSVPC
			c.Network.PodSubnetIDs = []string{byoQA, byoQB}
			e.Subnets[5].AZ = "us-west-2a"
		}, "eksnet:network.podSubnetIds: zones [" + byoQA + " in us-west-2a " + byoQB + " in us-west-2a]; custom networking needs exactly one pod subnet in each zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, e := byoConfig(t), existingVPC()
			tt.mutate(&cfg, e)
			_, err := runExisting(cfg, e)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("program error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
	// Without the controller nothing discovers subnets by tag.
	cfg, e := byoConfig(t), existingVPC()
	cfg.Addons.LoadBalancerController, cfg.Addons.DemoApp = false, false
	delete(e.Subnets[3].Tags, stacks.TagELB)
	if _, err := runExisting(cfg, e); err != nil {
		t.Fatalf("untagged subnets without the controller: %v", err)
	}
}

// TestExistingVPCCustomNetworking: the ENIConfigs point at the pod subnets
// given, one per zone.
func TestExistingVPCCustomNetworking(t *testing.T) {
	cfg := byoConfig(t)
	cfg.CNI.Mode = stacks.CNIAWSVPC
	cfg.Network.PodSubnetIDs = []string{byoQA, byoQB}
	m, err := runExisting(cfg, existingVPC())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, ec := range m.ByType("kubernetes:crd.k8s.amazonaws.com/v1alpha1:ENIConfig") {
		got[str(obj(ec.Inputs["metadata"])["name"])] = str(obj(ec.Inputs["spec"])["subnet"])
	}
	if got["us-west-2a"] != byoQA || got["us-west-2b"] != byoQB || len(got) != 2 {
		t.Errorf("ENIConfigs %v, want us-west-2a -> %s, us-west-2b -> %s", got, byoQA, byoQB)
	}
}

// TestPlanOfExistingVPCNeedsTheLookups: eksnet plan runs offline, so a
// stack in an existing VPC fails with a message that says where to look.
func TestPlanOfExistingVPCNeedsTheLookups(t *testing.T) {
	_, err := plan.Run(context.Background(), byoConfig(t))
	if err == nil || !strings.Contains(err.Error(), "eksnet plan runs offline and cannot look up an existing VPC; `eksnet preview` reads it from AWS") {
		t.Fatalf("plan of an existing VPC: %v", err)
	}
}
