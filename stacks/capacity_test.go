package stacks

import (
	"strings"
	"testing"

	"github.com/eksnet/eksnet/infra/cidrplan"
)

// TestCapacity pins the capacity arithmetic per mode. Expected figures
// are worked out by hand in the comments from the instance limits.
func TestCapacity(t *testing.T) {
	type row struct {
		subnet                 string
		nodes, addrs, need     int
		prefixRoom, prefixNeed int
		fits                   bool
	}
	tests := []struct {
		name   string
		preset string
		mutate func(*Config)
		want   []row
	}{
		{
			// t3.medium: 3 ENIs x 6 IPs, max pods 17 -> 15 pod addresses over
			// ceil(15/5) = 3 ENIs: node IP + 2 ENI primaries + 15 = 18 per node.
			// max 3 nodes over 2 AZs -> 2 per subnet -> 36.
			name: "secondary IPs", preset: PresetDev, mutate: func(*Config) {},
			want: []row{
				{"private-us-west-2a", 2, 4091, 36, 0, 0, true},
				{"private-us-west-2b", 2, 4091, 36, 0, 0, true},
			},
		},
		{
			// m5.large PD: max pods 110 -> 109 addresses -> ceil(109/16) = 7
			// prefixes, held by 1 ENI (9 slots x 16): the primary, whose IP
			// is the node IP. max 6 over 3 AZs -> 2 nodes per subnet.
			// /19 with a /20 reservation: 4096 - 5 - ... = 4091 outside, 256 /28s.
			name: "prefix delegation", preset: PresetStaging, mutate: func(*Config) {},
			want: []row{
				{"private-us-west-2a", 2, 4091, 2, 256, 14, true},
				{"private-us-west-2b", 2, 4091, 2, 256, 14, true},
				{"private-us-west-2c", 2, 4091, 2, 256, 14, true},
			},
		},
		{
			// Custom networking, m5.large: 2 pod ENIs x 9 + 2 = 20 max pods ->
			// 18 pod addresses over ceil(18/9) = 2 ENIs in the pod subnet:
			// 20 per node there; the node subnet holds node IPs only.
			name: "custom networking", preset: PresetStaging,
			mutate: func(c *Config) {
				c.CNI.Mode, c.CNI.PrefixDelegation = CNIAWSVPC, false
				c.NodeGroups[0].InstanceTypes = []string{"m5.large"}
				c.Network.PodCIDR, c.Network.PodSubnetBits, c.Network.PrivateSubnetBits = "100.64.0.0/16", 20, 24
			},
			want: []row{
				{"private-us-west-2a", 2, 251, 2, 0, 0, true},
				{"private-us-west-2b", 2, 251, 2, 0, 0, true},
				{"private-us-west-2c", 2, 251, 2, 0, 0, true},
				{"pod-us-west-2a", 2, 4091, 40, 0, 0, true},
				{"pod-us-west-2b", 2, 4091, 40, 0, 0, true},
				{"pod-us-west-2c", 2, 4091, 40, 0, 0, true},
			},
		},
		{
			// Two node groups share each subnet: dev's (2 nodes x 18) plus
			// 4 x m5.large (29 max pods: 27 over 3 ENIs, 30 per node) = 156.
			// A /25 (123 usable) does not hold it.
			name: "two groups overflow", preset: PresetDev,
			mutate: func(c *Config) {
				c.Network.PrivateSubnetBits = 25
				c.NodeGroups = append(c.NodeGroups, NodeGroup{Name: "big", InstanceTypes: []string{"m5.large"}, CapacityType: "SPOT", OS: "al2023", MinSize: 0, DesiredSize: 0, MaxSize: 8, DiskSizeGiB: 20})
			},
			want: []row{
				{"private-us-west-2a", 6, 123, 156, 0, 0, false},
				{"private-us-west-2b", 6, 123, 156, 0, 0, false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Preset(tt.preset, "t", "us-west-2")
			if err != nil {
				t.Fatal(err)
			}
			tt.mutate(&c)
			layout, err := c.Layout()
			if err != nil {
				t.Fatal(err)
			}
			pods, err := c.NodeGroupPods()
			if err != nil {
				t.Fatal(err)
			}
			caps, err := c.Capacity(layout, pods)
			if err != nil {
				t.Fatal(err)
			}
			if len(caps) != len(tt.want) {
				t.Fatalf("%d rows, want %d: %+v", len(caps), len(tt.want), caps)
			}
			for i, w := range tt.want {
				g := caps[i]
				got := row{g.Subnet.Name, g.MaxNodes, g.Addresses, g.AddressesNeeded, g.PrefixRoom, g.PrefixesNeeded, g.Fits}
				if got != w {
					t.Errorf("row %d = %+v, want %+v", i, got, w)
				}
				if g.Subnet.Role == cidrplan.Public {
					t.Errorf("public subnet %s in the capacity report", g.Subnet.Name)
				}
			}
		})
	}
}

// TestNodeGroupPodsHostNetwork: max pods = pod addresses + host-network
// pods, the last counting the group's own host-network DaemonSets. t3.medium
// has 3 ENIs x (6 - 1) = 15 pod addresses whatever the DaemonSets, so the
// capacity the subnets must hold stays that of the dev preset (36).
func TestNodeGroupPodsHostNetwork(t *testing.T) {
	for _, tt := range []struct {
		name                 string
		cni                  string
		daemonSets           int
		maxPods, addrs, need int
		reason               string
	}{
		{"agent", CNIAgent, 0, 16, 15, 36, "3 ENIs x (6 IPs - 1) + 1 = 16"},
		{"agent with 2 daemonsets", CNIAgent, 2, 18, 15, 36, "3 ENIs x (6 IPs - 1) + 3 = 18"},
		{"aws-vpc-cni, AWS's value", CNIAWSVPC, 0, 17, 15, 36, "3 ENIs x (6 IPs - 1) + 2 = 17"},
		{"aws-vpc-cni with 2 daemonsets", CNIAWSVPC, 2, 19, 15, 36, "3 ENIs x (6 IPs - 1) + 4 = 19"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Preset(PresetDev, "t", "us-west-2")
			if err != nil {
				t.Fatal(err)
			}
			c.CNI.Mode = tt.cni
			c.NodeGroups[0].HostNetworkDaemonSets = tt.daemonSets
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			pods, err := c.NodeGroupPods()
			if err != nil {
				t.Fatal(err)
			}
			gp := pods[0]
			if gp.Result.MaxPods != tt.maxPods || gp.PodAddresses != tt.addrs || !strings.Contains(gp.Reason, tt.reason) {
				t.Errorf("max pods %d, pod addresses %d, reason %q; want %d, %d and %q", gp.Result.MaxPods, gp.PodAddresses, gp.Reason, tt.maxPods, tt.addrs, tt.reason)
			}
			layout, err := c.Layout()
			if err != nil {
				t.Fatal(err)
			}
			caps, err := c.Capacity(layout, pods)
			if err != nil {
				t.Fatal(err)
			}
			if caps[0].AddressesNeeded != tt.need {
				t.Errorf("subnet %s needs %d addresses, want %d: DaemonSets take no ENI address", caps[0].Subnet.Name, caps[0].AddressesNeeded, tt.need)
			}
		})
	}
}
