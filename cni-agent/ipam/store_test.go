package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/rpc"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func key(i int) rpc.Key {
	return rpc.Key{Network: "eksnet", ContainerID: fmt.Sprintf("c%d", i), IfName: "eth0"}
}

func ips(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, x := range s {
		out = append(out, netip.MustParseAddr(x))
	}
	return out
}

func TestAssignSameKeyAndFull(t *testing.T) {
	s := NewStore(3, 30*time.Second)
	putConfirmed(s, ENI{ID: "eni-0", Primary: true, IPs: ips("10.0.0.10", "10.0.0.11")})
	putConfirmed(s, ENI{ID: "eni-1", DeviceNumber: 1, IPs: ips("10.0.0.20", "10.0.0.21")})
	seen := map[netip.Addr]bool{}
	for i := range 3 {
		a, err := s.Assign(Owner{Key: key(i)}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if seen[a.Address] {
			t.Fatalf("address %s handed out twice", a.Address)
		}
		seen[a.Address] = true
		again, err := s.Assign(Owner{Key: key(i)}, t0)
		if err != nil || again.Address != a.Address {
			t.Fatalf("same key got %v, %v; want %s", again.Address, err, a.Address)
		}
	}
	_, err := s.Assign(Owner{Key: key(9)}, t0)
	var full *FullError
	if !errors.As(err, &full) || err.Error() != "node full (3/3)" {
		t.Fatalf("4th assign: %v", err)
	}
	// The primary ENI is filled first, then device 1.
	if a, _ := s.Get(key(0)); a.ENIID != "eni-0" || a.DeviceNumber != 0 || !a.Primary {
		t.Fatalf("first assignment %+v", a)
	}
}

func TestCooldown(t *testing.T) {
	s := NewStore(10, 30*time.Second)
	putConfirmed(s, ENI{ID: "eni-0", Primary: true, IPs: ips("10.0.0.10")})
	a, _ := s.Assign(Owner{Key: key(1)}, t0)
	if _, ok := s.Release(key(1), t0.Add(time.Second)); !ok {
		t.Fatal("release lost the assignment")
	}
	var empty *EmptyError
	if _, err := s.Assign(Owner{Key: key(2)}, t0.Add(20*time.Second)); !errors.As(err, &empty) || empty.Cooldown != 1 || empty.NextFree != 11*time.Second {
		t.Fatalf("assign during cooldown: %v (%+v), want 1 cooling, the first free in 11s", err, empty)
	}
	if snap := s.Snapshot(t0.Add(20 * time.Second)); snap.Cooldown != 1 || snap.Free() != 0 {
		t.Fatalf("snapshot during cooldown %+v", snap)
	}
	b, err := s.Assign(Owner{Key: key(2)}, t0.Add(32*time.Second))
	if err != nil || b.Address != a.Address {
		t.Fatalf("after cooldown: %v %v", b, err)
	}
}

func TestPrefixPacking(t *testing.T) {
	s := NewStore(100, 0)
	p1, p2 := netip.MustParsePrefix("10.0.16.0/28"), netip.MustParsePrefix("10.0.32.0/28")
	putConfirmed(s, ENI{ID: "eni-0", Primary: true, Prefixes: []netip.Prefix{p1, p2}})
	if snap := s.Snapshot(t0); snap.Total != 32 {
		t.Fatalf("total %d", snap.Total)
	}
	first, _ := s.Assign(Owner{Key: key(0)}, t0)
	for i := 1; i < 16; i++ {
		a, err := s.Assign(Owner{Key: key(i)}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !p1.Contains(a.Address) && !p1.Contains(first.Address) || (p1.Contains(first.Address) != p1.Contains(a.Address)) {
			t.Fatalf("assignment %d left the first used prefix: %s vs %s", i, a.Address, first.Address)
		}
	}
	snap := s.Snapshot(t0)
	removable := 0
	for _, u := range snap.ENIs[0].Units {
		if u.Removable {
			removable++
		}
	}
	if removable != 1 {
		t.Fatalf("want one whole free prefix after 16 packed assignments, got %d: %+v", removable, snap.ENIs[0].Units)
	}
}

func TestPutENIDropsAndTakeFree(t *testing.T) {
	s := NewStore(10, 30*time.Second)
	putConfirmed(s, ENI{ID: "eni-0", Primary: true, IPs: ips("10.0.0.10", "10.0.0.11", "10.0.0.12")})
	a, _ := s.Assign(Owner{Key: key(1)}, t0)
	b, _ := s.Assign(Owner{Key: key(2)}, t0)
	s.Release(key(2), t0)
	// b is cooling, a assigned: only the third is removable.
	got := s.TakeFreeUnits("eni-0", []netip.Prefix{netip.PrefixFrom(a.Address, 32), netip.PrefixFrom(b.Address, 32), netip.MustParsePrefix("10.0.0.12/32")}, t0.Add(time.Second))
	if len(got) != 1 || got[0].Addr() != netip.MustParseAddr("10.0.0.12") {
		t.Fatalf("took %v", got)
	}
	dropped := s.PutENI(ENI{ID: "eni-0", Primary: true, IPs: ips("10.0.0.11")})
	if len(dropped) != 1 || dropped[0].Key != key(1) {
		t.Fatalf("dropped %+v", dropped)
	}
	if _, ok := s.Get(key(1)); ok {
		t.Fatal("assignment on a vanished address survived")
	}
}

func TestRestore(t *testing.T) {
	s := NewStore(10, 30*time.Second)
	putConfirmed(s, ENI{ID: "eni-0", Primary: true, IPs: ips("10.0.0.10", "10.0.0.11", "10.0.0.12")})
	rejected := s.Restore([]Assignment{
		{Owner: Owner{Key: key(1)}, Address: netip.MustParseAddr("10.0.0.10")},
		{Owner: Owner{Key: key(2)}, Address: netip.MustParseAddr("10.0.0.10")}, // duplicate address
		{Owner: Owner{Key: key(3)}, Address: netip.MustParseAddr("10.9.9.9")},  // gone from EC2
	}, map[netip.Addr]time.Time{netip.MustParseAddr("10.0.0.11"): t0})
	if len(rejected) != 2 {
		t.Fatalf("rejected %+v", rejected)
	}
	if a, ok := s.Get(key(1)); !ok || a.Address != netip.MustParseAddr("10.0.0.10") {
		t.Fatalf("restored %+v", a)
	}
	a, err := s.Assign(Owner{Key: key(4)}, t0.Add(time.Second))
	if err != nil || a.Address != netip.MustParseAddr("10.0.0.12") {
		t.Fatalf("restored cooldown not honoured: %v %v", a.Address, err)
	}
}

// putConfirmed puts an ENI and confirms every unit of it, as the agent does
// once IMDS lists them.
func putConfirmed(s *Store, e ENI) {
	s.PutENI(e)
	units := e.Prefixes
	for _, ip := range e.IPs {
		units = append(units, netip.PrefixFrom(ip, 32))
	}
	s.Confirm(e.ID, units)
}

// A unit new to the store waits for Confirm: it is never handed out before,
// it counts towards the pool (Plan does not ask EC2 for it again), it is not
// removable, and Confirm frees only the units it is given.
func TestPendingUnits(t *testing.T) {
	s := NewStore(10, 30*time.Second)
	s.PutENI(ENI{ID: "eni-0", Primary: true, IPs: ips("10.0.0.10", "10.0.0.11")})
	_, err := s.Assign(Owner{Key: key(1)}, t0)
	var empty *EmptyError
	if !errors.As(err, &empty) || empty.Pending != 2 || !strings.Contains(err.Error(), "2 added and waiting for IMDS") {
		t.Fatalf("assign from two pending addresses: %v, want an EmptyError naming 2 pending", err)
	}
	snap := s.Snapshot(t0)
	if snap.Total != 2 || snap.Pending != 2 || snap.Free() != 0 || snap.ENIs[0].Pending != 2 {
		t.Fatalf("snapshot %+v: want 2 total, 2 pending, 0 free", snap)
	}
	for _, u := range snap.ENIs[0].Units {
		if !u.Pending || u.Removable {
			t.Fatalf("unit %+v: want pending and not removable", u)
		}
	}
	if act := Plan(snap, Targets{WarmIP: 2}, Limits{MaxENIs: 3, UnitsPerENI: 5}); act.Kind != None {
		t.Fatalf("plan with 2 pending and a warm target of 2: %s %d, want none (they are on their way)", act.Kind, act.Count)
	}
	if got := s.TakeFreeUnits("eni-0", []netip.Prefix{netip.MustParsePrefix("10.0.0.10/32")}, t0); len(got) != 0 {
		t.Fatalf("took pending units %v", got)
	}
	if p := s.Pending()["eni-0"]; len(p) != 2 {
		t.Fatalf("Pending lists %v, want the 2 units", p)
	}
	if n := s.Confirm("eni-0", []netip.Prefix{netip.MustParsePrefix("10.0.0.11/32"), netip.MustParsePrefix("10.9.9.9/32")}); n != 1 {
		t.Fatalf("confirmed %d units, want 1 (10.9.9.9 is not on the ENI)", n)
	}
	for i := range 2 {
		a, err := s.Assign(Owner{Key: key(10 + i)}, t0)
		if i == 0 && (err != nil || a.Address != netip.MustParseAddr("10.0.0.11")) {
			t.Fatalf("assign after confirming 10.0.0.11: %v %v", a.Address, err)
		}
		if i == 1 && !errors.As(err, &empty) {
			t.Fatalf("second assign handed out %v (%v), the other address is still pending", a.Address, err)
		}
	}
	if n := s.Confirm("eni-0", []netip.Prefix{netip.MustParsePrefix("10.0.0.11/32")}); n != 0 {
		t.Fatalf("confirming a confirmed unit again counted %d", n)
	}
}

// A sandbox that died with its node gives its address back to its pod's
// next sandbox at once, while to every other pod it cools down as usual.
func TestReleaseKeptForPodGoesBackToThePod(t *testing.T) {
	now := time.Unix(1000, 0)
	s := NewStore(10, 30*time.Second)
	putConfirmed(s, ENI{ID: "eni-1", Primary: true, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.6")}})
	owner := func(cid, pod string) Owner {
		return Owner{Key: rpc.Key{Network: "n", ContainerID: cid, IfName: "eth0"}, PodNamespace: "ns", PodName: pod}
	}
	web, err := s.Assign(owner("old-web", "web"), now)
	if err != nil {
		t.Fatal(err)
	}
	db, err := s.Assign(owner("old-db", "db"), now)
	if err != nil {
		t.Fatal(err)
	}
	s.ReleaseKeptForPod(web.Key, now)
	s.Release(db.Key, now)
	// Another pod finds both cooling.
	if got, err := s.Assign(owner("other", "other"), now.Add(time.Second)); err == nil {
		t.Fatalf("another pod got %s while both addresses cool down", got.Address)
	}
	// web's new sandbox gets web's address back; db's (deleted, not kept) cools.
	got, err := s.Assign(owner("new-web", "web"), now.Add(time.Second))
	if err != nil || got.Address != web.Address {
		t.Fatalf("web's new sandbox got %v, %v; want its old %s", got.Address, err, web.Address)
	}
	if got, err := s.Assign(owner("new-db", "db"), now.Add(time.Second)); err == nil {
		t.Fatalf("db's new sandbox got %s: a plain release must cool down", got.Address)
	}
	// The reservation ends with the take: released again plainly, it cools.
	s.Release(got.Key, now.Add(2*time.Second))
	if again, err := s.Assign(owner("newer-web", "web"), now.Add(3*time.Second)); err == nil {
		t.Fatalf("a plain release was kept for the pod: %s", again.Address)
	}
}
