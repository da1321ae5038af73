package maxpods

import (
	"errors"
	"strings"
	"testing"
)

// TestCalculateKnownValues pins the spot values of DESIGN.md and the rules
// around them (cap, custom networking, ENI override, multi-card, unknown vCPUs).
func TestCalculateKnownValues(t *testing.T) {
	tests := []struct {
		name         string
		typ          string
		o            Options
		maxPods      int
		uncapped     int
		enis, podENI int
		mode         string
		capReason    string // substring; "" means must be empty
	}{
		{"t3.medium secondary", "t3.medium", Options{}, 17, 17, 3, 3, ModeSecondaryIP, ""},
		{"t3.medium PD capped", "t3.medium", Options{PrefixDelegation: true}, 110, 242, 3, 3, ModePrefixDelegation, "capped at 110: kubelet limit for instances with <= 30 vCPUs (t3.medium has 2)"},
		{"t3.medium PD raw", "t3.medium", Options{PrefixDelegation: true, Uncapped: true}, 242, 242, 3, 3, ModePrefixDelegation, "uncapped on request"},
		{"t3.medium custom networking", "t3.medium", Options{CustomNetworking: true}, 12, 12, 3, 2, ModeSecondaryIP, ""},
		{"m5.large", "m5.large", Options{}, 29, 29, 3, 3, ModeSecondaryIP, ""},
		{"m5.large PD", "m5.large", Options{PrefixDelegation: true}, 110, 434, 3, 3, ModePrefixDelegation, "capped at 110"},
		{"m5.24xlarge capped", "m5.24xlarge", Options{}, 250, 737, 15, 15, ModeSecondaryIP, "capped at 250: kubelet limit for instances with > 30 vCPUs (m5.24xlarge has 96)"},
		{"m5.24xlarge raw", "m5.24xlarge", Options{Uncapped: true}, 737, 737, 15, 15, ModeSecondaryIP, "uncapped on request: 737 exceeds the kubelet limit of 250"},
		{"t3.nano", "t3.nano", Options{}, 4, 4, 2, 2, ModeSecondaryIP, ""},
		{"t3.nano PD", "t3.nano", Options{PrefixDelegation: true}, 34, 34, 2, 2, ModePrefixDelegation, ""},
		{"p5.48xlarge default card only", "p5.48xlarge", Options{}, 100, 100, 2, 2, ModeSecondaryIP, ""},
		{"max ENI override", "m5.large", Options{MaxENI: 2}, 20, 20, 2, 2, ModeSecondaryIP, ""},
		{"max ENI above the type's", "m5.large", Options{MaxENI: 8}, 29, 29, 3, 3, ModeSecondaryIP, ""},
		{"max ENI then custom networking", "m5.large", Options{MaxENI: 2, CustomNetworking: true}, 11, 11, 2, 1, ModeSecondaryIP, ""},
		{"PD with custom networking", "t3.medium", Options{PrefixDelegation: true, CustomNetworking: true}, 110, 162, 3, 2, ModePrefixDelegation, "capped at 110"},
		{"bare metal PD", "c5.metal", Options{PrefixDelegation: true}, 250, 11762, 15, 15, ModePrefixDelegation, "capped at 250"},
		{"unknown vCPUs capped", "c5a.metal", Options{}, 110, 737, 15, 15, ModeSecondaryIP, "capped at 110: vCPU count of c5a.metal unknown"},
		{"unknown vCPUs below cap", "trn2.3xlarge", Options{}, 30, 30, 2, 2, ModeSecondaryIP, "vCPU count of trn2.3xlarge unknown"},
		{"16 vCPUs capped at 110", "m5.4xlarge", Options{}, 110, 234, 8, 8, ModeSecondaryIP, "<= 30 vCPUs (m5.4xlarge has 16)"},
		{"32 vCPUs below 250", "m5.8xlarge", Options{}, 234, 234, 8, 8, ModeSecondaryIP, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Calculate(tt.typ, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if r.InstanceType != tt.typ || r.MaxPods != tt.maxPods || r.Uncapped != tt.uncapped || r.ENIs != tt.enis || r.PodENIs != tt.podENI || r.Mode != tt.mode {
				t.Errorf("Calculate(%s, %+v) = %+v; want maxPods %d uncapped %d enis %d podENIs %d mode %s",
					tt.typ, tt.o, r, tt.maxPods, tt.uncapped, tt.enis, tt.podENI, tt.mode)
			}
			if r.CustomNetworking != tt.o.CustomNetworking {
				t.Errorf("CustomNetworking = %v, want %v", r.CustomNetworking, tt.o.CustomNetworking)
			}
			if r.KubeReservedMemoryMiB != 11*tt.maxPods+255 {
				t.Errorf("KubeReservedMemoryMiB = %d, want 11 x %d + 255", r.KubeReservedMemoryMiB, tt.maxPods)
			}
			if tt.capReason == "" && r.CapReason != "" || !strings.Contains(r.CapReason, tt.capReason) {
				t.Errorf("CapReason = %q, want %q", r.CapReason, tt.capReason)
			}
		})
	}
}

func TestCalculateErrors(t *testing.T) {
	tests := []struct {
		name    string
		typ     string
		o       Options
		is      error
		unknown bool
		want    []string // substrings: the input and the accepted values
	}{
		{"unknown type", "t3.mediun", Options{}, nil, true, []string{`"t3.mediun"`, "t3.medium", "accepted values"}},
		{"PD on xen", "m4.large", Options{PrefixDelegation: true}, ErrPrefixDelegationUnsupported, false, []string{"m4.large", "hypervisor xen", "nitro or bare-metal"}},
		{"PD on unknown non-metal", "cr1.8xlarge", Options{PrefixDelegation: true}, ErrPrefixDelegationUnsupported, false, []string{"cr1.8xlarge", "nitro or bare-metal"}},
		{"negative max ENI", "t3.medium", Options{MaxENI: -1}, ErrInvalidMaxENI, false, []string{"-1", "t3.medium", "0 (no override) or 1..3"}},
		{"max ENI leaves no pod ENI", "t3.medium", Options{MaxENI: 1, CustomNetworking: true}, ErrInvalidMaxENI, false, []string{"max ENI 1", "t3.medium", "2..3"}},
		{"single-ENI type with custom networking", "hpc6id.32xlarge", Options{CustomNetworking: true}, ErrInvalidMaxENI, false, []string{"hpc6id.32xlarge has 1 ENI", "at least 2 ENIs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Calculate(tt.typ, tt.o)
			if err == nil {
				t.Fatalf("Calculate(%s, %+v) = %+v, want an error", tt.typ, tt.o, r)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v: errors.Is(%v) = false", err, tt.is)
			}
			var ue *UnknownInstanceTypeError
			if errors.As(err, &ue) != tt.unknown {
				t.Errorf("error %v: unknown-type = %v, want %v", err, !tt.unknown, tt.unknown)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q: want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestCalculateGroupTakesMinimum(t *testing.T) {
	g, err := Default().CalculateGroup([]string{"m5.large", "t3.medium", "t3a.medium", "m5.24xlarge"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g.MaxPods != 17 || g.LimitedBy != "t3.medium" || g.KubeReservedMemoryMiB != 11*17+255 || len(g.Types) != 4 {
		t.Errorf("group = %+v, want maxPods 17 limited by t3.medium (first of the ties), 4 results", g)
	}
	for i, want := range []int{29, 17, 17, 250} {
		if g.Types[i].MaxPods != want {
			t.Errorf("group type %d (%s) maxPods %d, want %d", i, g.Types[i].InstanceType, g.Types[i].MaxPods, want)
		}
	}

	pd, err := Default().CalculateGroup([]string{"t3.medium", "m5.large"}, Options{PrefixDelegation: true})
	if err != nil {
		t.Fatal(err)
	}
	if pd.MaxPods != 110 || pd.Types[0].MaxPods != 110 || pd.Types[1].MaxPods != 110 {
		t.Errorf("PD group = %+v, want 110 for both and the group", pd)
	}

	if _, err := Default().CalculateGroup(nil, Options{}); err == nil || !strings.Contains(err.Error(), "at least one") {
		t.Errorf("CalculateGroup(nil) error = %v, want 'at least one'", err)
	}
	if _, err := Default().CalculateGroup([]string{"m5.large", "m4.large"}, Options{PrefixDelegation: true}); !errors.Is(err, ErrPrefixDelegationUnsupported) {
		t.Errorf("CalculateGroup with a xen type and PD error = %v, want ErrPrefixDelegationUnsupported", err)
	}
}

func BenchmarkCalculate(b *testing.B) {
	tbl := Default()
	for b.Loop() {
		if _, err := tbl.Calculate("m5.large", Options{PrefixDelegation: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookupUnknownWithSuggestions(b *testing.B) {
	tbl := Default()
	for b.Loop() {
		if _, err := tbl.Lookup("m5.larg"); err == nil {
			b.Fatal("want an error")
		}
	}
}

// TestHostNetworkTerm: max pods = pod addresses + host-network pods. AWS's
// published values count aws-node and kube-proxy; agent nodes kube-proxy only.
func TestHostNetworkTerm(t *testing.T) {
	for _, c := range []struct {
		typ           string
		o             Options
		maxPods, addr int
	}{
		{"t3.medium", Options{}, 17, 15},
		{"t3.medium", Options{HostNetwork: HostNetwork{Agent: true}}, 16, 15},
		{"m5.large", Options{HostNetwork: HostNetwork{Agent: true}}, 28, 27},
		{"t3.medium", Options{HostNetwork: HostNetwork{Agent: true}, PrefixDelegation: true}, 110, 240},
		// The user's host-network DaemonSets add slots, never addresses.
		{"t3.medium", Options{HostNetwork: HostNetwork{Agent: true, DaemonSets: 2}}, 18, 15},
		{"t3.medium", Options{HostNetwork: HostNetwork{DaemonSets: 2}}, 19, 15},
		// Capped, they take slots from the pods: 110 - (1 + 3) addresses used.
		{"m5.large", Options{HostNetwork: HostNetwork{Agent: true, DaemonSets: 3}, PrefixDelegation: true}, 110, 432},
	} {
		r, err := Calculate(c.typ, c.o)
		if err != nil {
			t.Fatal(err)
		}
		if r.MaxPods != c.maxPods || r.PodAddresses != c.addr || r.Uncapped != r.PodAddresses+r.HostNetworkPods {
			t.Errorf("%s %+v: max pods %d, pod addresses %d, uncapped %d, host-network %d; want %d and %d", c.typ, c.o, r.MaxPods, r.PodAddresses, r.Uncapped, r.HostNetworkPods, c.maxPods, c.addr)
		}
		if got := c.o.PodAddresses(r.MaxPods); r.MaxPods == r.Uncapped && got != c.addr {
			t.Errorf("%s: PodAddresses(%d) = %d, want %d", c.typ, r.MaxPods, got, c.addr)
		}
	}
	if got := (Options{HostNetwork: HostNetwork{Agent: true, DaemonSets: 3}}).PodAddresses(110); got != 106 {
		t.Errorf("PodAddresses(110) with kube-proxy and 3 DaemonSets = %d, want 106", got)
	}
}

func TestHostNetworkPods(t *testing.T) {
	for _, c := range []struct {
		h    HostNetwork
		want int
	}{
		{HostNetwork{}, AWSVPCCNIHostNetworkPods},
		{HostNetwork{Agent: true}, AgentHostNetworkPods},
		{HostNetwork{DaemonSets: 3}, 5},
		{HostNetwork{Agent: true, DaemonSets: 3}, 4},
	} {
		if got := c.h.Pods(); got != c.want {
			t.Errorf("%+v.Pods() = %d, want %d", c.h, got, c.want)
		}
	}
	_, err := Calculate("t3.medium", Options{HostNetwork: HostNetwork{Agent: true, DaemonSets: -1}})
	if !errors.Is(err, ErrInvalidHostNetwork) || !strings.Contains(err.Error(), "-1") || !strings.Contains(err.Error(), "accepted values are 0") {
		t.Errorf("Calculate with -1 DaemonSets: %v, want ErrInvalidHostNetwork naming -1 and the accepted values", err)
	}
}
