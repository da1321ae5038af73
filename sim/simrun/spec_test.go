package simrun

import (
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func devSpec() Spec {
	return Spec{
		Stack: "dev", Region: "us-west-2", VPCCIDR: netip.MustParsePrefix("10.0.0.0/16"),
		Subnets: []Subnet{
			{Name: "public-a", AZ: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.0.0/24")},
			{Name: "private-a", AZ: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.16.0/20")},
			{Name: "private-b", AZ: "us-west-2b", CIDR: netip.MustParsePrefix("10.0.32.0/20")},
		},
		NodeGroups: []NodeGroup{{
			Name: "general", InstanceTypes: []string{"t3.medium"}, DesiredSize: 2, Subnets: []string{"private-a", "private-b"},
			MaxPods: 16, AgentEnv: map[string]string{"EKSNET_MODE": "secondary", "EKSNET_MAX_PODS": "16"}, AgentEnvSource: "user data",
		}},
	}
}

func TestLayout(t *testing.T) {
	multi := devSpec()
	multi.NodeGroups = append(multi.NodeGroups, NodeGroup{Name: "GPU_Workers.large", InstanceTypes: []string{"m5.large", "m6i.large"},
		DesiredSize: 5, Subnets: []string{"private-b"}, MaxPods: 28})
	for _, tc := range []struct {
		name        string
		spec        Spec
		maxNodes    int
		podsPerNode int
		groups      []GroupPlan
		nodes       []string // name type subnet target
	}{
		{"dev, defaults", devSpec(), 0, 0,
			[]GroupPlan{{Name: "general", Desired: 2, Simulated: 2, MaxPods: 16, HostNetworkPods: 1, Promised: 15, Target: 15}},
			[]string{"general-0 t3.medium private-a 15", "general-1 t3.medium private-b 15"}},
		{"dev, 5 pods per node", devSpec(), 0, 5,
			[]GroupPlan{{Name: "general", Desired: 2, Simulated: 2, MaxPods: 16, HostNetworkPods: 1, Promised: 15, Target: 5}},
			[]string{"general-0 t3.medium private-a 5", "general-1 t3.medium private-b 5"}},
		{"more pods than promised are capped", devSpec(), 0, 40,
			[]GroupPlan{{Name: "general", Desired: 2, Simulated: 2, MaxPods: 16, HostNetworkPods: 1, Promised: 15, Target: 15}},
			[]string{"general-0 t3.medium private-a 15", "general-1 t3.medium private-b 15"}},
		{"capped nodes, types in turn, names cleaned", multi, 3, 0,
			[]GroupPlan{{Name: "general", Desired: 2, Simulated: 2, MaxPods: 16, HostNetworkPods: 1, Promised: 15, Target: 15},
				{Name: "GPU_Workers.large", Desired: 5, Simulated: 3, MaxPods: 28, HostNetworkPods: 1, Promised: 27, Target: 27}},
			[]string{"general-0 t3.medium private-a 15", "general-1 t3.medium private-b 15",
				"gpu-workers-0 m5.large private-b 27", "gpu-workers-1 m6i.large private-b 27", "gpu-workers-2 m5.large private-b 27"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			groups, nodes, err := Layout(tc.spec, tc.maxNodes, tc.podsPerNode)
			if err != nil {
				t.Fatal(err)
			}
			for i := range groups {
				g := tc.spec.NodeGroups[i]
				if !reflect.DeepEqual(groups[i].AgentEnv, g.AgentEnv) || groups[i].AgentEnvSource != g.AgentEnvSource {
					t.Errorf("group %s: agent env %v from %q, want %v from %q", g.Name, groups[i].AgentEnv, groups[i].AgentEnvSource, g.AgentEnv, g.AgentEnvSource)
				}
				groups[i].AgentEnv, groups[i].AgentEnvSource = nil, ""
			}
			if !reflect.DeepEqual(groups, tc.groups) {
				t.Errorf("groups = %+v\nwant %+v", groups, tc.groups)
			}
			var got []string
			for _, n := range nodes {
				got = append(got, strings.Join([]string{n.Name, n.InstanceType, n.Subnet, itoa(n.Target)}, " "))
			}
			if !reflect.DeepEqual(got, tc.nodes) {
				t.Errorf("nodes = %q\nwant %q", got, tc.nodes)
			}
		})
	}
	for _, bad := range [][2]int{{-1, 0}, {0, -1}} {
		if _, _, err := Layout(devSpec(), bad[0], bad[1]); err == nil {
			t.Errorf("Layout(maxNodes %d, podsPerNode %d) accepted", bad[0], bad[1])
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestNodeBaseAndPodNames(t *testing.T) {
	for in, want := range map[string]string{
		"general": "general", "GPU_Workers.large": "gpu-workers", "--x--": "x", "!!!": "ng",
		"averyveryverylongnodegroupname": "averyveryver",
	} {
		if got := nodeBase(in); got != want {
			t.Errorf("nodeBase(%q) = %q, want %q", in, got, want)
		}
	}
	if got := PodName(nodeBase("averyveryverylongnodegroupname")+"-12", 249); len(got) > 32 || got != "averyveryver-12-p249" {
		t.Errorf("PodName = %q (%d characters), want at most 32", got, len(got))
	}
}

func TestValidate(t *testing.T) {
	if err := devSpec().Validate(); err != nil {
		t.Fatalf("dev spec: %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Spec)
		field string
	}{
		{"no node groups", func(s *Spec) { s.NodeGroups = nil }, "node groups"},
		{"unknown subnet", func(s *Spec) { s.NodeGroups[0].Subnets = []string{"private-z"} }, `subnet "private-z"`},
		{"no instance type", func(s *Spec) { s.NodeGroups[0].InstanceTypes = nil }, "no instance types"},
		{"max pods too small", func(s *Spec) { s.NodeGroups[0].MaxPods = 1 }, "max pods 1"},
		{"max pods all host network", func(s *Spec) { s.NodeGroups[0].MaxPods, s.NodeGroups[0].HostNetworkDaemonSets = 3, 2 }, "max pods 3 leaves no pod addresses after 3 host-network pods"},
		{"negative host-network DaemonSets", func(s *Spec) { s.NodeGroups[0].HostNetworkDaemonSets = -1 }, "host-network DaemonSets -1"},
		{"duplicate subnet", func(s *Spec) { s.Subnets[1].Name = "public-a" }, "subnets[1].name"},
		{"no vpc cidr", func(s *Spec) { s.VPCCIDR = netip.Prefix{} }, "vpc cidr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := devSpec()
			tc.edit(&s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate = %v, want an error naming %q", err, tc.field)
			}
		})
	}
}

func TestInternetSource(t *testing.T) {
	dst, node, pod := netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("10.0.16.5"), netip.MustParseAddr("10.0.16.9")
	for _, tc := range []struct {
		name string
		env  map[string]string
		want netip.Addr
	}{
		{"default: SNAT to the node", nil, node},
		{"external SNAT", map[string]string{"EKSNET_EXTERNAL_SNAT": "true"}, pod},
		{"external SNAT off", map[string]string{"EKSNET_EXTERNAL_SNAT": "false"}, node},
		{"excluded destination", map[string]string{"EKSNET_SNAT_EXCLUDE_CIDRS": "192.168.0.0/16, 203.0.113.0/24"}, pod},
		{"other exclusions", map[string]string{"EKSNET_SNAT_EXCLUDE_CIDRS": "192.168.0.0/16"}, node},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := InternetSource(tc.env, dst, node, pod)
			if got != tc.want || why == "" {
				t.Fatalf("InternetSource = %s (%q), want %s", got, why, tc.want)
			}
		})
	}
}

func TestPeerOf(t *testing.T) {
	node := func(name, cidr string) *nodeRun { return &nodeRun{plan: NodePlan{Name: name, SubnetCIDR: cidr}} }
	a0, a1, b0, c0 := node("a0", "10.0.0.0/20"), node("a1", "10.0.0.0/20"), node("b0", "10.0.16.0/20"), node("c0", "10.0.32.0/20")
	name := func(n *nodeRun) string {
		if n == nil {
			return "none"
		}
		return n.plan.Name
	}
	for _, tc := range []struct {
		live []*nodeRun
		want []string
	}{
		{[]*nodeRun{a0}, []string{"none"}},
		{[]*nodeRun{a0, a1}, []string{"a1", "a0"}},           // one subnet: the next node
		{[]*nodeRun{a0, a1, b0}, []string{"b0", "b0", "a0"}}, // another subnet first
		{[]*nodeRun{a0, b0, c0}, []string{"b0", "c0", "a0"}}, // a ring over the AZs
		{[]*nodeRun{a0, a1, b0, c0}, []string{"b0", "b0", "c0", "a0"}},
	} {
		var got []string
		for i := range tc.live {
			got = append(got, name(peerOf(tc.live, i)))
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("peers of %d nodes = %v, want %v", len(tc.live), got, tc.want)
		}
	}
}
