package fakeec2

import (
	"fmt"
	"net/netip"
)

// pool hands out the addresses of one subnet the way EC2 does: the first four
// addresses and the last one are reserved, single addresses go lowest first,
// and a /28 prefix needs a whole aligned block of 16 free addresses, so a
// subnet can have free addresses and still no room for a prefix
// (fragmentation -> InsufficientCidrBlocks).
type pool struct {
	cidr netip.Prefix
	used map[netip.Addr]string // address -> owner (ENI id or "reserved")
}

func newPool(cidr netip.Prefix) *pool {
	p := &pool{cidr: cidr.Masked(), used: map[netip.Addr]string{}}
	a := p.cidr.Addr()
	for i := 0; i < 4; i++ {
		p.used[a] = "reserved"
		a = a.Next()
	}
	p.used[lastAddr(p.cidr)] = "reserved"
	return p
}

// size is the number of addresses in the subnet.
func (p *pool) size() int { return 1 << (32 - p.cidr.Bits()) }

// free is what DescribeSubnets reports as AvailableIpAddressCount.
func (p *pool) free() int { return p.size() - len(p.used) }

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// takeAddrs reserves n single addresses for owner, lowest first, all or none.
func (p *pool) takeAddrs(owner string, n int) ([]netip.Addr, bool) {
	if n > p.free() {
		return nil, false
	}
	out := make([]netip.Addr, 0, n)
	for a := p.cidr.Addr(); p.cidr.Contains(a) && len(out) < n; a = a.Next() {
		if _, ok := p.used[a]; !ok {
			out = append(out, a)
		}
	}
	for _, a := range out {
		p.used[a] = owner
	}
	return out, true
}

// takeAddr reserves one given address for owner.
func (p *pool) takeAddr(owner string, a netip.Addr) error {
	if !p.cidr.Contains(a) {
		return fmt.Errorf("address %s is not in subnet %s", a, p.cidr)
	}
	if o, ok := p.used[a]; ok {
		return fmt.Errorf("address %s is in use (%s)", a, o)
	}
	p.used[a] = owner
	return nil
}

// blockFree reports whether every address of the /28 is unused.
func (p *pool) blockFree(b netip.Prefix) bool {
	a := b.Addr()
	for i := 0; i < 16; i++ {
		if _, ok := p.used[a]; ok {
			return false
		}
		a = a.Next()
	}
	return true
}

// takePrefixes reserves n aligned /28 blocks for owner, lowest first, all or none.
func (p *pool) takePrefixes(owner string, n int) ([]netip.Prefix, bool) {
	if p.cidr.Bits() > 28 {
		return nil, false
	}
	var out []netip.Prefix
	for b := netip.PrefixFrom(p.cidr.Addr(), 28); p.cidr.Contains(b.Addr()) && len(out) < n; b = netip.PrefixFrom(addN(b.Addr(), 16), 28) {
		if p.blockFree(b) {
			out = append(out, b)
		}
	}
	if len(out) < n {
		return nil, false
	}
	for _, b := range out {
		p.markPrefix(b, owner)
	}
	return out, true
}

// takePrefix reserves one given /28 for owner.
func (p *pool) takePrefix(owner string, b netip.Prefix) error {
	if b.Bits() != 28 || b.Masked() != b {
		return fmt.Errorf("prefix %s is not an aligned /28", b)
	}
	if !p.cidr.Contains(b.Addr()) {
		return fmt.Errorf("prefix %s is not in subnet %s", b, p.cidr)
	}
	if !p.blockFree(b) {
		return fmt.Errorf("prefix %s overlaps addresses in use", b)
	}
	p.markPrefix(b, owner)
	return nil
}

func (p *pool) markPrefix(b netip.Prefix, owner string) {
	a := b.Addr()
	for i := 0; i < 16; i++ {
		p.used[a] = owner
		a = a.Next()
	}
}

func (p *pool) release(a netip.Addr) { delete(p.used, a) }

func (p *pool) releasePrefix(b netip.Prefix) {
	a := b.Addr()
	for i := 0; i < 16; i++ {
		delete(p.used, a)
		a = a.Next()
	}
}

func addN(a netip.Addr, n int) netip.Addr {
	for i := 0; i < n; i++ {
		a = a.Next()
	}
	return a
}
