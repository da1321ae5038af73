package cidrplan

import (
	"strings"
	"testing"
)

func TestPlan(t *testing.T) {
	azs3 := []string{"us-west-2a", "us-west-2b", "us-west-2c"}
	tests := []struct {
		name    string
		spec    Spec
		want    []Subnet
		wantErr string
	}{
		{
			name: "three AZs private and public",
			spec: Spec{VPCCIDR: "10.0.0.0/16", AZs: azs3, PrivateBits: 19, PublicBits: 24},
			want: []Subnet{
				{Name: "private-us-west-2a", AZ: "us-west-2a", CIDR: "10.0.0.0/19", Role: Private},
				{Name: "private-us-west-2b", AZ: "us-west-2b", CIDR: "10.0.32.0/19", Role: Private},
				{Name: "private-us-west-2c", AZ: "us-west-2c", CIDR: "10.0.64.0/19", Role: Private},
				{Name: "public-us-west-2a", AZ: "us-west-2a", CIDR: "10.0.96.0/24", Role: Public},
				{Name: "public-us-west-2b", AZ: "us-west-2b", CIDR: "10.0.97.0/24", Role: Public},
				{Name: "public-us-west-2c", AZ: "us-west-2c", CIDR: "10.0.98.0/24", Role: Public},
			},
		},
		{
			name: "no public subnets",
			spec: Spec{VPCCIDR: "10.1.0.0/20", AZs: azs3[:2], PrivateBits: 22},
			want: []Subnet{
				{Name: "private-us-west-2a", AZ: "us-west-2a", CIDR: "10.1.0.0/22", Role: Private},
				{Name: "private-us-west-2b", AZ: "us-west-2b", CIDR: "10.1.4.0/22", Role: Private},
			},
		},
		{
			name: "prefix reservation on node subnets",
			spec: Spec{VPCCIDR: "10.0.0.0/16", AZs: azs3[:2], PrivateBits: 20, PublicBits: 26, PrefixReservation: true},
			want: []Subnet{
				{Name: "private-us-west-2a", AZ: "us-west-2a", CIDR: "10.0.0.0/20", Role: Private, Reservation: "10.0.8.0/21"},
				{Name: "private-us-west-2b", AZ: "us-west-2b", CIDR: "10.0.16.0/20", Role: Private, Reservation: "10.0.24.0/21"},
				{Name: "public-us-west-2a", AZ: "us-west-2a", CIDR: "10.0.32.0/26", Role: Public},
				{Name: "public-us-west-2b", AZ: "us-west-2b", CIDR: "10.0.32.64/26", Role: Public},
			},
		},
		{
			name: "custom networking puts pods and reservations on the secondary block",
			spec: Spec{VPCCIDR: "10.0.0.0/20", PodCIDR: "100.64.0.0/16", AZs: azs3[:2], PrivateBits: 24, PublicBits: 26, PodBits: 18, PrefixReservation: true},
			want: []Subnet{
				{Name: "private-us-west-2a", AZ: "us-west-2a", CIDR: "10.0.0.0/24", Role: Private},
				{Name: "private-us-west-2b", AZ: "us-west-2b", CIDR: "10.0.1.0/24", Role: Private},
				{Name: "public-us-west-2a", AZ: "us-west-2a", CIDR: "10.0.2.0/26", Role: Public},
				{Name: "public-us-west-2b", AZ: "us-west-2b", CIDR: "10.0.2.64/26", Role: Public},
				{Name: "pod-us-west-2a", AZ: "us-west-2a", CIDR: "100.64.0.0/18", Role: Pod, Reservation: "100.64.32.0/19"},
				{Name: "pod-us-west-2b", AZ: "us-west-2b", CIDR: "100.64.64.0/18", Role: Pod, Reservation: "100.64.96.0/19"},
			},
		},
		{
			name: "public after smaller private is aligned",
			spec: Spec{VPCCIDR: "10.0.0.0/24", AZs: azs3[:1], PrivateBits: 28, PublicBits: 26},
			want: []Subnet{
				{Name: "private-us-west-2a", AZ: "us-west-2a", CIDR: "10.0.0.0/28", Role: Private},
				{Name: "public-us-west-2a", AZ: "us-west-2a", CIDR: "10.0.0.64/26", Role: Public},
			},
		},
		{name: "private too large", spec: Spec{VPCCIDR: "10.0.0.0/16", AZs: azs3, PrivateBits: 17}, wantErr: "private subnets: 3 x /17 do not fit in 10.0.0.0/16"},
		{name: "public does not fit", spec: Spec{VPCCIDR: "10.0.0.0/16", AZs: azs3, PrivateBits: 18, PublicBits: 18}, wantErr: "public subnets: 3 x /18 do not fit"},
		{name: "pod overlaps vpc", spec: Spec{VPCCIDR: "10.0.0.0/16", PodCIDR: "10.0.128.0/17", AZs: azs3, PrivateBits: 20, PodBits: 20}, wantErr: "pod CIDR 10.0.128.0/17 overlaps VPC CIDR 10.0.0.0/16"},
		{name: "host bits", spec: Spec{VPCCIDR: "10.0.0.1/16", AZs: azs3, PrivateBits: 20}, wantErr: "host bits set, did you mean 10.0.0.0/16"},
		{name: "vpc too large", spec: Spec{VPCCIDR: "10.0.0.0/8", AZs: azs3, PrivateBits: 20}, wantErr: "AWS VPC blocks are /16 (65536 addresses) to /28 (16); use a prefix length of 16 to 28"},
		{name: "subnet smaller than /28", spec: Spec{VPCCIDR: "10.0.0.0/16", AZs: azs3, PrivateBits: 29}, wantErr: "private subnet prefix /29: smaller than /28, the smallest subnet AWS allows; use a prefix length of 28 or less"},
		{name: "subnet larger than the vpc", spec: Spec{VPCCIDR: "10.0.0.0/28", AZs: azs3, PrivateBits: 24}, wantErr: "private subnet prefix /24: larger than the block 10.0.0.0/28 it is cut from; use a prefix length of 28, or a larger block"},
		{name: "no azs", spec: Spec{VPCCIDR: "10.0.0.0/16", PrivateBits: 20}, wantErr: "availability zones"},
		{name: "ipv6", spec: Spec{VPCCIDR: "fd00::/56", AZs: azs3, PrivateBits: 20}, wantErr: "must be IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Plan() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Plan() error = %v", err)
			}
			if len(got.Subnets) != len(tt.want) {
				t.Fatalf("Plan() = %d subnets %+v, want %d", len(got.Subnets), got.Subnets, len(tt.want))
			}
			for i := range tt.want {
				if got.Subnets[i] != tt.want[i] {
					t.Errorf("subnet %d = %+v, want %+v", i, got.Subnets[i], tt.want[i])
				}
			}
			assertDisjoint(t, got)
		})
	}
}

// assertDisjoint checks the invariant every layout must hold, independent of
// the expected table: no two subnets share an address.
func assertDisjoint(t *testing.T, l Layout) {
	t.Helper()
	for i, a := range l.Subnets {
		for _, b := range l.Subnets[i+1:] {
			if o, _ := Overlaps(a.CIDR, b.CIDR); o {
				t.Errorf("subnets %s (%s) and %s (%s) overlap", a.Name, a.CIDR, b.Name, b.CIDR)
			}
		}
	}
}

func TestUsable(t *testing.T) {
	for cidr, want := range map[string]int{"10.0.0.0/24": 251, "10.0.0.0/28": 11, "10.0.0.0/19": 8187} {
		got, err := Usable(cidr)
		if err != nil || got != want {
			t.Errorf("Usable(%s) = %d, %v; want %d", cidr, got, err, want)
		}
	}
	if _, err := Usable("nope"); err == nil {
		t.Error("Usable(nope) = nil error")
	}
}
