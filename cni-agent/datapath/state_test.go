package datapath

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestHostVethName(t *testing.T) {
	for _, tc := range []struct {
		prefix, ns, name, container, want string
	}{
		// sha1("default.web-0") = 0d7763386da219dd...
		{"eni", "default", "web-0", "abc123", "eni0d7763386da2"},
		// no pod identity: sha1("abc123") = 6367c48dd193d56e...
		{"eni", "", "", "abc123", "eni6367c48dd193"},
		{"eni", "default", "", "abc123", "eni6367c48dd193"},
		{"pod", "default", "web-0", "zzz", "pod0d7763386da2"},
		{"eksnet7", "default", "web-0", "zzz", "eksnet70d776338"},
	} {
		got := HostVethName(tc.prefix, tc.ns, tc.name, tc.container)
		if got != tc.want || len(got) > MaxIfNameLen {
			t.Errorf("HostVethName(%q, %q, %q, %q) = %q, want %q", tc.prefix, tc.ns, tc.name, tc.container, got, tc.want)
		}
	}
	if HostVethName("eni", "default", "web-0", "a") != HostVethName("eni", "default", "web-0", "b") {
		t.Error("a new sandbox of the same pod must get the same veth name")
	}
}

func TestDesired(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:00:00:00:01")
	base := Pod{Netns: "/run/netns/p", IfName: "eth0", HostVeth: "eni0d7763386da2", Address: netip.MustParseAddr("10.0.1.5"), RouteTable: MainTable, MTU: 9001}
	onENI := base
	onENI.RouteTable = 3
	onENI.MTU = 0
	inPrefix := onENI
	inPrefix.Unit = netip.MustParsePrefix("10.0.1.0/28")
	for _, tc := range []struct {
		name string
		pod  Pod
		mac  net.HardwareAddr
		want string
	}{
		{"primary ENI: no from rule", base, mac, `host: link eni0d7763386da2 type veth mtu 9001 up
host: route 10.0.1.5/32 dev eni0d7763386da2 scope link table main
host: rule 512 to 10.0.1.5/32 lookup main
pod:  addr 10.0.1.5/32 dev eth0
pod:  link eth0 type veth mtu 9001 up
pod:  neigh 169.254.1.1 dev eth0 lladdr 02:00:00:00:00:01 PERMANENT
pod:  route 169.254.1.1/32 dev eth0 scope link table main
pod:  route default via 169.254.1.1 dev eth0 table main
`},
		{"secondary ENI: from rule to its table", onENI, nil, `host: link eni0d7763386da2 type veth mtu default up
host: route 10.0.1.5/32 dev eni0d7763386da2 scope link table main
host: rule 1536 from 10.0.1.5/32 lookup 3
host: rule 512 to 10.0.1.5/32 lookup main
pod:  addr 10.0.1.5/32 dev eth0
pod:  link eth0 type veth mtu default up
pod:  neigh 169.254.1.1 dev eth0 lladdr <host-veth-mac> PERMANENT
pod:  route 169.254.1.1/32 dev eth0 scope link table main
pod:  route default via 169.254.1.1 dev eth0 table main
`},
		{"prefix mode: the /28 unit's rules", inPrefix, nil, `host: link eni0d7763386da2 type veth mtu default up
host: route 10.0.1.5/32 dev eni0d7763386da2 scope link table main
host: rule 1536 from 10.0.1.0/28 lookup 3
host: rule 512 to 10.0.1.0/28 lookup main
pod:  addr 10.0.1.5/32 dev eth0
pod:  link eth0 type veth mtu default up
pod:  neigh 169.254.1.1 dev eth0 lladdr <host-veth-mac> PERMANENT
pod:  route 169.254.1.1/32 dev eth0 scope link table main
pod:  route default via 169.254.1.1 dev eth0 table main
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Desired(tc.pod, tc.mac).String(); got != tc.want {
				t.Errorf("desired:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	want := State{Host: []string{"a", "b"}, Pod: []string{"x"}}
	got := State{Host: []string{"b", "c"}}
	d := strings.Join(Diff(want, got), "\n")
	if d != "missing host: a\nunexpected host: c\nmissing pod: x" {
		t.Fatalf("diff = %q", d)
	}
	if len(Diff(want, want)) != 0 {
		t.Fatal("a state differs from itself")
	}
}

func TestPodValidate(t *testing.T) {
	ok := Pod{IfName: "eth0", HostVeth: "eni1", Address: netip.MustParseAddr("10.0.0.5"), RouteTable: 254}
	for _, tc := range []struct {
		name   string
		change func(*Pod)
		want   string
	}{
		{"no ifname", func(p *Pod) { p.IfName = "" }, "pod interface name"},
		{"long veth", func(p *Pod) { p.HostVeth = "eni0123456789abc" }, "host veth name"},
		{"ipv6", func(p *Pod) { p.Address = netip.MustParseAddr("fd00::5") }, "must be an IPv4 address"},
		{"no address", func(p *Pod) { p.Address = netip.Addr{} }, "pod address"},
		{"local table", func(p *Pod) { p.RouteTable = 255 }, "route table 255"},
		{"zero table", func(p *Pod) { p.RouteTable = 0 }, "route table 0"},
		{"mtu", func(p *Pod) { p.MTU = 100 }, "mtu 100"},
		{"unit without the address", func(p *Pod) { p.Unit = netip.MustParsePrefix("10.0.1.0/28") }, "address unit 10.0.1.0/28: must be an IPv4 prefix with no host bits containing the pod address 10.0.0.5"},
		{"unit with host bits", func(p *Pod) { p.Unit = netip.MustParsePrefix("10.0.0.5/28") }, "address unit 10.0.0.5/28"},
	} {
		p := ok
		tc.change(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}
