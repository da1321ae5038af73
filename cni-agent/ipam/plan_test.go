package ipam

import (
	"fmt"
	"net/netip"
	"testing"
)

// pool builds a snapshot: each ENI as a list of units, each unit "a" (all
// assigned), "c" (cooling), "f" (free) or "p" (a prefix with n assigned, as "p5").
func pool(capacity int, prefix bool, enis ...[]string) Snapshot {
	s := Snapshot{Capacity: capacity}
	for d, units := range enis {
		e := ENIState{ID: fmt.Sprintf("eni-%d", d), DeviceNumber: d, Primary: d == 0}
		for i, u := range units {
			size := 1
			if prefix {
				size = 16
			}
			us := UnitState{Unit: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(d), byte(i), 0}), 32)}
			if prefix {
				us.Unit = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(d), byte(i * 16), 0}), 28)
			}
			switch {
			case u == "a":
				us.Assigned = size
			case u == "c":
				us.Cooldown = size
			case u[0] == 'p':
				fmt.Sscanf(u[1:], "%d", &us.Assigned)
			}
			us.Removable = us.Assigned == 0 && us.Cooldown == 0
			e.Units = append(e.Units, us)
			e.Total += size
			e.Assigned += us.Assigned
			e.Cooldown += us.Cooldown
		}
		s.Total += e.Total
		s.Assigned += e.Assigned
		s.Cooldown += e.Cooldown
		s.ENIs = append(s.ENIs, e)
	}
	return s
}

func TestPlan(t *testing.T) {
	t3 := Limits{MaxENIs: 3, UnitsPerENI: 5}
	warmENI := Targets{WarmENI: 1}
	warmIP := Targets{WarmIP: 2, MinimumIP: 4}
	pd := Targets{Prefix: true, WarmPrefix: 1}
	for _, tc := range []struct {
		name string
		snap Snapshot
		t    Targets
		l    Limits
		want string
	}{
		{"fresh node fills the primary ENI", pool(15, false, nil), warmENI, t3, "assign eni-0 5"},
		{"one pod on a full primary: a whole new ENI", pool(15, false, []string{"a", "f", "f", "f", "f"}), warmENI, t3, "createENI  5"},
		{"warm ENI kept", pool(15, false, []string{"a", "f", "f", "f", "f"}, []string{"f", "f", "f", "f", "f"}), warmENI, t3, "none"},
		{"node full needs nothing", pool(15, false, []string{"a", "a", "a", "a", "a"}, []string{"a", "a", "a", "a", "a"}, []string{"a", "a", "a", "a", "a"}), warmENI, t3, "none"},
		{"capacity caps the pool", pool(15, false, []string{"a", "a", "a", "a", "a"}, []string{"a", "a", "a", "a", "a"}, []string{"a", "a", "f", "f", "f"}), warmENI, t3, "none"},
		{"max ENI reached", pool(15, false, []string{"a", "a", "a", "a", "a"}, []string{"a", "a", "a", "f", "f"}), warmENI, Limits{MaxENIs: 2, UnitsPerENI: 5}, "none"},
		{"idle secondary ENI deleted", pool(15, false, []string{"f", "f", "f", "f", "f"}, []string{"f", "f", "f", "f", "f"}), warmENI, t3, "deleteENI eni-1 0"},
		{"warm IP: minimum first", pool(15, false, nil), warmIP, t3, "assign eni-0 4"},
		{"warm IP: refill after a burst", pool(15, false, []string{"a", "a", "a", "a", "f"}), warmIP, t3, "createENI  1"},
		{"warm IP: cooling does not count as free", pool(15, false, []string{"a", "c", "f"}), warmIP, t3, "assign eni-0 1"},
		{"warm IP: idle ENI returned whole", pool(15, false, []string{"a", "f", "f", "f", "f"}, []string{"f", "f"}), warmIP, t3, "deleteENI eni-1 0"},
		{"warm IP: surplus IPs returned", pool(15, false, []string{"a", "f", "f", "f", "f"}, []string{"a", "f", "f"}), warmIP, t3, "release eni-1 2"},
		{"warm IP: never below minimum", pool(15, false, []string{"f", "f", "f", "f"}), warmIP, t3, "none"},
		{"prefix: fresh node", pool(108, true, nil), pd, t3, "assign eni-0 1"},
		{"prefix: burst needs several prefixes at once", pool(108, true, []string{"a", "a", "p3"}), Targets{Prefix: true, WarmIP: 40}, t3, "assign eni-0 2"},
		{"prefix: primary full, new ENI carries the prefix", pool(108, true, []string{"a", "a", "a", "a", "p1"}), pd, t3, "createENI  1"},
		{"prefix: 108 cap rounds up to 7 prefixes", pool(108, true, []string{"a", "a", "a", "a", "a"}, []string{"p12"}), Targets{Prefix: true, WarmPrefix: 4}, t3, "assign eni-1 1"},
		{"prefix: at 112 nothing more", pool(108, true, []string{"a", "a", "a", "a", "a"}, []string{"a", "p12"}), Targets{Prefix: true, WarmPrefix: 4}, t3, "none"},
		{"prefix: free prefix beyond target returned", pool(108, true, []string{"p4", "f", "f"}), pd, t3, "release eni-0 1"},
		{"prefix: cooling prefix kept", pool(108, true, []string{"p4", "c", "f"}), pd, t3, "none"},
		{"prefix: cooling is not free, the pool grows", pool(108, true, []string{"p4", "c", "c"}), pd, t3, "assign eni-0 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Plan(tc.snap, tc.t, tc.l)
			got := "none"
			if a.Kind != None {
				n := a.Count
				if a.Kind == ReleaseUnit {
					n = len(a.Units)
				}
				got = fmt.Sprintf("%s %s %d", a.Kind, a.ENIID, n)
			}
			if got != tc.want {
				t.Fatalf("Plan = %q (%s), want %q", got, a.Reason, tc.want)
			}
		})
	}
}
