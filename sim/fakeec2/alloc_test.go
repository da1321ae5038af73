package fakeec2

import (
	"net/netip"
	"testing"
)

func TestPoolReservesLikeEC2(t *testing.T) {
	for _, tc := range []struct {
		cidr string
		free int
		// firstAddr is the first address handed out; firstPrefix the first /28.
		firstAddr, firstPrefix string
	}{
		{"10.0.0.0/24", 251, "10.0.0.4", "10.0.0.16/28"},
		{"10.0.1.0/26", 59, "10.0.1.4", "10.0.1.16/28"},
		{"10.0.2.0/28", 11, "10.0.2.4", ""}, // the only block holds reserved addresses
		{"10.0.4.0/22", 1019, "10.0.4.4", "10.0.4.16/28"},
	} {
		p := newPool(netip.MustParsePrefix(tc.cidr))
		if p.free() != tc.free {
			t.Errorf("%s: free = %d, want %d", tc.cidr, p.free(), tc.free)
		}
		a, ok := p.takeAddrs("x", 1)
		if !ok || a[0].String() != tc.firstAddr {
			t.Errorf("%s: first address = %v, want %s", tc.cidr, a, tc.firstAddr)
		}
		pf, ok := p.takePrefixes("x", 1)
		if tc.firstPrefix == "" {
			if ok {
				t.Errorf("%s: got prefix %v, want none", tc.cidr, pf)
			}
			continue
		}
		if !ok || pf[0].String() != tc.firstPrefix {
			t.Errorf("%s: first prefix = %v, want %s", tc.cidr, pf, tc.firstPrefix)
		}
	}
}

func TestPoolFragmentation(t *testing.T) {
	p := newPool(netip.MustParsePrefix("10.0.1.0/26"))
	// One address in each usable block leaves plenty of addresses, no /28.
	for _, a := range []string{"10.0.1.20", "10.0.1.40"} {
		if err := p.takeAddr("x", netip.MustParseAddr(a)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := p.takePrefixes("x", 1); ok {
		t.Fatal("got a /28 from a fragmented subnet")
	}
	if p.free() != 57 {
		t.Fatalf("free = %d, want 57", p.free())
	}
	p.release(netip.MustParseAddr("10.0.1.40"))
	got, ok := p.takePrefixes("x", 1)
	if !ok || got[0].String() != "10.0.1.32/28" {
		t.Fatalf("after release: %v %v, want 10.0.1.32/28", got, ok)
	}
	if _, ok := p.takeAddrs("x", 1000); ok {
		t.Fatal("took more addresses than the subnet has")
	}
	for _, bad := range []string{"10.0.1.36/28", "10.0.1.0/27", "10.0.2.0/28"} {
		if err := p.takePrefix("x", netip.MustParsePrefix(bad)); err == nil {
			t.Errorf("takePrefix(%s) accepted", bad)
		}
	}
	p.releasePrefix(got[0])
	if err := p.takePrefix("x", got[0]); err != nil {
		t.Fatalf("retaking a released prefix: %v", err)
	}
}

func TestWildcardAndFilters(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"eksnet.io/*", "eksnet.io/cluster", true},
		{"eksnet.io/*", "other", false},
		{"i-?bc", "i-abc", true},
		{"i-?bc", "i-bc", false},
		{"*", "", true},
		{"exact", "exact", true},
		{"exact", "exactly", false},
	} {
		if got := wildcard(tc.p, tc.s); got != tc.want {
			t.Errorf("wildcard(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
	field := func(name string) ([]string, bool) {
		return tagFilter(name, map[string]string{"a": "1", "b": "2"})
	}
	for _, tc := range []struct {
		fs      []filter
		want    bool
		wantErr bool
	}{
		{[]filter{{"tag:a", []string{"1"}}}, true, false},
		{[]filter{{"tag:a", []string{"2", "1"}}}, true, false},
		{[]filter{{"tag:a", []string{"1"}}, {"tag:b", []string{"3"}}}, false, false},
		{[]filter{{"tag-key", []string{"b"}}}, true, false},
		{[]filter{{"tag:c", []string{"*"}}}, false, false},
		{[]filter{{"bogus", []string{"x"}}}, false, true},
	} {
		got, err := matchAll(tc.fs, field)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("matchAll(%v) = %v, %v", tc.fs, got, err)
		}
	}
}
