package ipam

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// BenchmarkAssignRelease measures the in-memory part of an allocation on a
// node filled close to the 250-pod cap in prefix mode (16 prefixes).
func BenchmarkAssignRelease(b *testing.B) {
	s := NewStore(250, 0)
	var ps []netip.Prefix
	for i := range 16 {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 0}), 28))
	}
	putConfirmed(s, ENI{ID: "eni-0", Primary: true, Prefixes: ps})
	for i := range 240 {
		if _, err := s.Assign(Owner{Key: rpc.Key{Network: "n", ContainerID: fmt.Sprint(i), IfName: "eth0"}}, t0); err != nil {
			b.Fatal(err)
		}
	}
	k := rpc.Key{Network: "n", ContainerID: "bench", IfName: "eth0"}
	now := t0
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		if _, err := s.Assign(Owner{Key: k}, now); err != nil {
			b.Fatal(err)
		}
		s.Release(k, now)
	}
}
