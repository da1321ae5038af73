package agent

import (
	"net/netip"
	"testing"
	"time"
)

func TestRecoveredAssignments(t *testing.T) {
	now := time.Date(2026, 11, 28, 4, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr
	tests := []struct {
		name   string
		routes []podRoute
		want   map[netip.Addr]string // address -> link keyed on
	}{
		{"none", nil, map[netip.Addr]string{}},
		{"pod routes over prefixed veths", []podRoute{{a("10.0.1.17"), "eni1a2b3c4d5e6"}, {a("10.0.1.18"), "eni99aa88bb77c"}},
			map[netip.Addr]string{a("10.0.1.17"): "eni1a2b3c4d5e6", a("10.0.1.18"): "eni99aa88bb77c"}},
		{"other veths (ENIs in the simulation, other CNIs) are not pods", []podRoute{{a("10.0.1.17"), "eth1"}, {a("10.0.1.20"), "cali123"}},
			map[netip.Addr]string{}},
		{"an address routed twice is held once, by the first link", []podRoute{{a("10.0.1.17"), "enia"}, {a("10.0.1.17"), "enib"}},
			map[netip.Addr]string{a("10.0.1.17"): "enia"}},
		{"IPv6 is not ours", []podRoute{{a("fd00::1"), "enia"}}, map[netip.Addr]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := recoveredAssignments(tt.routes, "eni", now)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d assignments %+v, want %d", len(got), got, len(tt.want))
			}
			for _, as := range got {
				link, ok := tt.want[as.Address]
				if !ok || as.Key != recoveredKey(link) || as.Key.Network != RecoveredNetwork || !as.Since.Equal(now) {
					t.Errorf("unexpected assignment %+v (want key on %q)", as, link)
				}
				if err := as.Key.Validate(); err != nil {
					t.Errorf("recovered key %+v is not a valid key: %v", as.Key, err)
				}
			}
		})
	}
}
