package sim

import (
	"net/netip"
	"strings"
	"testing"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	c, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Name, "es") || len(c.Name) != 8 || c.Region != "us-east-1" || c.VPCCIDR.String() != "10.0.0.0/16" ||
		len(c.Subnets) != 2 || c.Subnets[1].CIDR.String() != "10.0.1.0/24" || c.Subnets[1].AZ != "us-east-1b" {
		t.Fatalf("defaults = %+v", c)
	}
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{Config{Name: "ok-name", VPCCIDR: p("172.16.0.0/16")}, ""},
		{Config{Name: "Bad"}, "name"},
		{Config{Name: "a.b"}, "name"},
		{Config{VPCCIDR: p("10.0.0.0/8")}, "vpc cidr"},
		{Config{VPCCIDR: p("198.18.0.0/16")}, "overlaps 198.18.0.0/15"},
		{Config{VPCCIDR: p("10.0.0.0/24")}, "too small"},
		{Config{Subnets: []SubnetConfig{{AZ: "a", CIDR: p("10.1.0.0/24")}}}, "subnets[0].cidr"},
		{Config{Subnets: []SubnetConfig{{AZ: "", CIDR: p("10.0.0.0/24")}}}, "subnets[0].az"},
		{Config{Subnets: []SubnetConfig{{AZ: "a", CIDR: p("10.0.0.0/24")}, {AZ: "b", CIDR: p("10.0.0.128/25")}}}, "overlaps subnets[0]"},
		{Config{Subnets: []SubnetConfig{{AZ: "a", CIDR: p("10.0.0.0/29")}}}, "subnets[0].cidr"},
		{Config{IMDSDelay: -1}, "imds delay"},
		{Config{DescribeDelay: -1}, "describe delay"},
	} {
		_, err := tc.cfg.withDefaults()
		if tc.want == "" && err != nil {
			t.Errorf("%+v: %v", tc.cfg, err)
		}
		if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: err %v, want it to mention %q", tc.cfg, err, tc.want)
		}
	}
}

func TestTableLimits(t *testing.T) {
	l, err := TableLimits("t3.medium")
	if err != nil || l.MaxENIs != 3 || l.IPv4PerENI != 6 || !l.PrefixDelegation {
		t.Fatalf("t3.medium = %+v, %v", l, err)
	}
	if l, err := TableLimits("m4.large"); err != nil || l.PrefixDelegation {
		t.Fatalf("m4.large (xen) = %+v, %v", l, err)
	}
	if _, err := TableLimits("t3.gigantic"); err == nil {
		t.Fatal("unknown type accepted")
	}
}
