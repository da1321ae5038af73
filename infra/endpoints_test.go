package infra_test

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/infra/cidrplan"
	"github.com/eksnet/eksnet/stacks"
)

const (
	tEndpoint = "aws:ec2/vpcEndpoint:VpcEndpoint"
	tSG       = "aws:ec2/securityGroup:SecurityGroup"
)

// awsPrivateClusterEndpoints reads AWS's table of the endpoints a cluster
// without outbound internet access needs: service text -> endpoint names
// with region-code left in.
func awsPrivateClusterEndpoints(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("testdata/eks-private-cluster/endpoints.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		service, names, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("endpoints.tsv: %q: want service<TAB>endpoints", line)
		}
		for _, n := range strings.Split(names, ",") {
			out[service] = append(out[service], strings.TrimSpace(n))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 10 {
		t.Fatalf("endpoints.tsv: %d rows, the published table has 10", len(out))
	}
	return out
}

// privateStack is a staging stack without NAT: the private endpoint is on,
// the load balancer controller off (nat none refuses it).
func privateStack(t *testing.T) stacks.Config {
	t.Helper()
	cfg := preset(t, stacks.PresetStaging)
	cfg.Network.NAT = stacks.NATNone
	cfg.Addons.LoadBalancerController = false
	return cfg
}

// TestNATNoneCreatesAWSPrivateClusterEndpoints compares the endpoints a
// stack without NAT registers with AWS's list. A row is left out only for
// a reason the published text gives: it is marked optional, or it serves
// the load balancers, whose controller nat none refuses (checked here too),
// or it is Route 53's global endpoint, which only DNS controllers the stack
// does not install call.
func TestNATNoneCreatesAWSPrivateClusterEndpoints(t *testing.T) {
	cfg := privateStack(t)
	_, m := run(t, cfg)
	got := map[string]string{} // service name -> endpoint type
	byName := map[string]map[string]any{}
	for _, r := range m.ByType(tEndpoint) {
		got[str(r.Inputs["serviceName"])] = str(r.Inputs["vpcEndpointType"])
		byName[str(r.Inputs["serviceName"])] = r.Inputs
	}
	lbc := cfg
	lbc.Addons.LoadBalancerController = true
	for service, names := range awsPrivateClusterEndpoints(t) {
		for _, n := range names {
			short, regional := strings.CutPrefix(n, "com.amazonaws.region-code.")
			switch {
			case strings.HasPrefix(service, "(Optional)"):
				continue
			case !regional:
				if n != "com.amazonaws.route53" {
					t.Errorf("AWS lists %s (%s), which is neither regional nor Route 53: decide whether the stack needs it", n, service)
				}
				continue
			case short == "elasticloadbalancing":
				if err := lbc.Validate(); err == nil || !strings.Contains(err.Error(), "eksnet:addons.loadBalancerController true with eksnet:network.nat none") {
					t.Errorf("%s is left out for the load balancer controller, but nat none accepts the controller: %v", n, err)
				}
				continue
			}
			want := stacks.EndpointInterface
			if short == "s3" {
				want = stacks.EndpointGateway
			}
			name := stacks.EndpointServiceName(cfg.Region, short)
			if got[name] != want {
				t.Errorf("AWS lists %s for %q; the stack registers %q, want a %s endpoint", name, service, got[name], want)
			}
		}
	}

	// Interface endpoints: private DNS, every private subnet (one per AZ),
	// the endpoint security group admitting HTTPS from the VPC.
	sg := one(t, m, tSG, "network-endpoints")
	ingress, _ := sg.Inputs["ingress"].([]any)
	if len(ingress) != 1 {
		t.Fatalf("endpoint security group ingress = %v, want one rule", sg.Inputs["ingress"])
	}
	rule := obj(ingress[0])
	if rule["protocol"] != "tcp" || rule["fromPort"] != 443.0 || rule["toPort"] != 443.0 ||
		!slices.Equal(rule["cidrBlocks"].([]any), []any{cfg.Network.VPCCIDR}) {
		t.Errorf("endpoint security group admits %v, want tcp 443 from %s", rule, cfg.Network.VPCCIDR)
	}
	var privateIDs, rtIDs []any
	for _, sn := range mustLayout(t, cfg).ByRole(cidrplan.Private) {
		privateIDs = append(privateIDs, one(t, m, tSubnet, "network-"+sn.Name).ID)
		rtIDs = append(rtIDs, one(t, m, tRT, "network-private-"+sn.AZ).ID)
	}
	for name, in := range byName {
		if in["vpcEndpointType"] == stacks.EndpointGateway {
			if ids, _ := in["routeTableIds"].([]any); !slices.Equal(ids, rtIDs) {
				t.Errorf("%s: route tables %v, want the private ones %v", name, ids, rtIDs)
			}
			continue
		}
		if in["privateDnsEnabled"] != true {
			t.Errorf("%s: private DNS off: SDKs calling the public name would miss the endpoint", name)
		}
		if ids, _ := in["subnetIds"].([]any); !slices.Equal(ids, privateIDs) {
			t.Errorf("%s: subnets %v, want the private ones %v", name, ids, privateIDs)
		}
		if sgs, _ := in["securityGroupIds"].([]any); !slices.Equal(sgs, []any{sg.ID}) {
			t.Errorf("%s: security groups %v, want %s", name, sgs, sg.ID)
		}
	}

	// With NAT, no endpoints: the NAT gateway reaches the public ones.
	if _, m := run(t, preset(t, stacks.PresetStaging)); len(m.ByType(tEndpoint)) != 0 {
		t.Errorf("staging with NAT registers %d VPC endpoints, want none", len(m.ByType(tEndpoint)))
	}
}

// TestEndpointSecurityGroupAdmitsThePodCIDR: under custom networking the
// pods' addresses come from the secondary block, and they call STS and ECR.
func TestEndpointSecurityGroupAdmitsThePodCIDR(t *testing.T) {
	cfg := privateStack(t)
	cfg.CNI.Mode = stacks.CNIAWSVPC
	cfg.Network.PodCIDR, cfg.Network.PodSubnetBits = "100.64.0.0/16", 18
	_, m := run(t, cfg)
	rule := obj(one(t, m, tSG, "network-endpoints").Inputs["ingress"].([]any)[0])
	if want := []any{cfg.Network.VPCCIDR, cfg.Network.PodCIDR}; !slices.Equal(rule["cidrBlocks"].([]any), want) {
		t.Errorf("endpoint security group admits %v, want %v", rule["cidrBlocks"], want)
	}
}

func mustLayout(t *testing.T, cfg stacks.Config) cidrplan.Layout {
	t.Helper()
	l, err := cfg.Layout()
	if err != nil {
		t.Fatal(err)
	}
	return l
}
