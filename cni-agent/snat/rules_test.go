package snat

import (
	"net/netip"
	"strings"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestPlanRendersRuleSet(t *testing.T) {
	base := Config{
		PrimaryIP:   netip.MustParseAddr("10.0.0.10"),
		PrimaryLink: "eth0",
		VPCCIDRs:    prefixes("10.0.0.0/16", "100.64.0.0/16"),
		Exclude:     prefixes("192.168.0.0/16"),
	}
	external := base
	external.External = true
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"snat on node", base, `table ip eksnet {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		iifname "eth0" ip daddr 10.0.0.10 ct state new ct mark set ct mark | 0x80 comment "connections arriving on the primary ENI answer through it"
		iifname != "eth0" ct state new jump snat-mark comment "pod connections that will be SNATed"
		iifname != "eth0" ct mark & 0x80 == 0x80 meta mark set meta mark | 0x80 comment "route marked connections by the main table"
	}

	chain snat-mark {
		ip daddr 10.0.0.0/16 return
		ip daddr 100.64.0.0/16 return
		ip daddr 192.168.0.0/16 return
		ip saddr 10.0.0.0/16 ct mark set ct mark | 0x80
		ip saddr 100.64.0.0/16 ct mark set ct mark | 0x80
	}

	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip daddr 10.0.0.0/16 return comment "inside the VPC or excluded: keep the pod address"
		ip daddr 100.64.0.0/16 return comment "inside the VPC or excluded: keep the pod address"
		ip daddr 192.168.0.0/16 return comment "inside the VPC or excluded: keep the pod address"
		ip saddr 10.0.0.10 return comment "the node's own traffic keeps its ports"
		ip saddr 10.0.0.0/16 counter snat to 10.0.0.10 fully-random comment "pod traffic leaving the VPC"
		ip saddr 100.64.0.0/16 counter snat to 10.0.0.10 fully-random comment "pod traffic leaving the VPC"
	}
}
`},
		{"external snat keeps only the primary-ENI connmark", external, `table ip eksnet {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		iifname "eth0" ip daddr 10.0.0.10 ct state new ct mark set ct mark | 0x80 comment "connections arriving on the primary ENI answer through it"
		iifname != "eth0" ct mark & 0x80 == 0x80 meta mark set meta mark | 0x80 comment "route marked connections by the main table"
	}

	chain snat-mark {
	}

	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
	}
}
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			got := Plan(tc.cfg).String()
			if got != tc.want {
				t.Errorf("rule set:\n%s\nwant:\n%s", got, tc.want)
			}
			for _, r := range Plan(tc.cfg).Rules {
				if _, err := r.exprs(); err != nil {
					t.Errorf("rule %q does not translate: %v", r, err)
				}
			}
		})
	}
}

func TestValidateNamesTheField(t *testing.T) {
	ok := Config{PrimaryIP: netip.MustParseAddr("10.0.0.10"), PrimaryLink: "eth0", VPCCIDRs: prefixes("10.0.0.0/16")}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no primary ip", func(c *Config) { c.PrimaryIP = netip.Addr{} }, "PrimaryIP"},
		{"ipv6 primary ip", func(c *Config) { c.PrimaryIP = netip.MustParseAddr("fd00::1") }, "PrimaryIP"},
		{"no link", func(c *Config) { c.PrimaryLink = "" }, "PrimaryLink"},
		{"long link", func(c *Config) { c.PrimaryLink = "a-very-long-interface" }, "PrimaryLink"},
		{"no vpc cidr", func(c *Config) { c.VPCCIDRs = nil }, "VPCCIDRs is empty"},
		{"host bits", func(c *Config) { c.VPCCIDRs = prefixes("10.0.0.1/16") }, "did you mean 10.0.0.0/16"},
		{"ipv6 exclusion", func(c *Config) { c.Exclude = prefixes("fd00::/8") }, "Exclude entry fd00::/8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
}
