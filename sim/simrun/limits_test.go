package simrun

import (
	"strings"
	"testing"

	"github.com/eksnet/eksnet/sim/fakeec2"
)

func TestEC2Limits(t *testing.T) {
	limits, err := EC2Limits([]string{"t3.medium=2", "m5.large = 1x4"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ  string
		want fakeec2.Limits
	}{
		{"t3.medium", fakeec2.Limits{MaxENIs: 2, NetworkCards: 1, IPv4PerENI: 6, PrefixDelegation: true}},
		{"m5.large", fakeec2.Limits{MaxENIs: 1, NetworkCards: 1, IPv4PerENI: 4, PrefixDelegation: true}},
		{"m5.xlarge", fakeec2.Limits{MaxENIs: 4, NetworkCards: 1, IPv4PerENI: 15, PrefixDelegation: true}}, // the table's
		// The table's per-card ENIs and its 32 cards (the simulated EC2 limits each card).
		{"p5.48xlarge", fakeec2.Limits{MaxENIs: 2, NetworkCards: 32, IPv4PerENI: 50, PrefixDelegation: true}},
	} {
		got, err := limits(tc.typ)
		if err != nil || got != tc.want {
			t.Errorf("limits(%s) = %+v, %v; want %+v", tc.typ, got, err, tc.want)
		}
	}
	if _, err := limits("z9.nope"); err == nil {
		t.Error("an unknown type got limits")
	}
	for _, bad := range []struct{ spec, want string }{
		{"t3.medium", "want TYPE=ENIS"},
		{"=2", "want TYPE=ENIS"},
		{"z9.nope=2", "instance type z9.nope"},
		{"t3.medium=0", `ENIs "0"`},
		{"t3.medium=2xmany", `IPv4 addresses per ENI "many"`},
	} {
		if _, err := EC2Limits([]string{bad.spec}); err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), "--ec2-limit") {
			t.Errorf("EC2Limits(%q) = %v, want an error naming --ec2-limit and saying %q", bad.spec, err, bad.want)
		}
	}
}
