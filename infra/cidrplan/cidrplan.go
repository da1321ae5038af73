// Package cidrplan lays a VPC out into subnets: public, private (node) and
// optional pod subnets over N availability zones, plus the prefix
// reservations that keep /28s available in prefix-delegation mode.
//
// It is a pure function so the layout a stack will create can be checked,
// printed and tested without Pulumi or AWS. Blocks are allocated largest
// first, aligned, in a fixed order, so the same inputs always give the same
// CIDRs and a change to one setting never shuffles the others.
package cidrplan

import (
	"fmt"
	"math/big"
	"net/netip"
)

// Role says what a subnet is for; it decides its route table and tags.
type Role string

// Subnet roles.
const (
	// Public subnets hold load balancers and NAT gateways; they route to the internet gateway.
	Public Role = "public"
	// Private subnets hold the nodes (and, without custom networking, their pods).
	Private Role = "private"
	// Pod subnets come from the secondary CIDR and hold pods under custom networking.
	Pod Role = "pod"
)

// Spec is what the layout is computed from.
type Spec struct {
	// VPCCIDR is the primary VPC block, e.g. 10.0.0.0/16.
	VPCCIDR string
	// PodCIDR is an optional secondary block (e.g. 100.64.0.0/16) for pod subnets.
	PodCIDR string
	// AZs are the availability zones, one subnet of each role per zone.
	AZs []string
	// PublicBits, PrivateBits and PodBits are the prefix lengths of each subnet kind.
	// PublicBits 0 means no public subnets.
	PublicBits, PrivateBits, PodBits int
	// PrefixReservation reserves the upper half of every subnet that holds
	// pods (pod subnets with a PodCIDR, otherwise private subnets) for /28
	// prefixes, so prefix delegation never fails from fragmentation.
	PrefixReservation bool
}

// Subnet is one planned subnet.
type Subnet struct {
	Name string `json:"name"`
	AZ   string `json:"az"`
	CIDR string `json:"cidr"`
	Role Role   `json:"role"`
	// Reservation is the prefix-type CIDR reservation inside the subnet, or "".
	Reservation string `json:"reservation,omitempty"`
}

// Layout is the planned subnets, in allocation order: private, public, pod.
type Layout struct {
	Subnets []Subnet `json:"subnets"`
}

// ByRole returns the subnets of one role, in AZ order.
func (l Layout) ByRole(r Role) []Subnet {
	var out []Subnet
	for _, s := range l.Subnets {
		if s.Role == r {
			out = append(out, s)
		}
	}
	return out
}

// AWSReserved is how many addresses AWS keeps in every subnet (network,
// router, DNS, future use, broadcast).
const AWSReserved = 5

// Usable returns the addresses EC2 can hand out in a subnet CIDR.
func Usable(cidr string) (int, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return 0, fmt.Errorf("parse subnet cidr %q: %w", cidr, err)
	}
	return (1 << (32 - p.Bits())) - AWSReserved, nil
}

// Plan computes the layout. Errors say which setting does not fit.
func Plan(s Spec) (Layout, error) {
	if len(s.AZs) == 0 {
		return Layout{}, fmt.Errorf("availability zones: need at least one")
	}
	vpc, err := parseBlock("VPC CIDR", s.VPCCIDR)
	if err != nil {
		return Layout{}, err
	}
	var l Layout
	podHere := s.PodCIDR == ""
	next := vpc.Addr()
	alloc := func(kind string, block netip.Prefix, bits int) ([]netip.Prefix, error) {
		if bits > 28 {
			return nil, fmt.Errorf("%s subnet prefix /%d: smaller than /28, the smallest subnet AWS allows; use a prefix length of 28 or less", kind, bits)
		}
		if bits < block.Bits() {
			use := fmt.Sprintf("%d to 28", block.Bits())
			if block.Bits() == 28 {
				use = "28"
			}
			return nil, fmt.Errorf("%s subnet prefix /%d: larger than the block %s it is cut from; use a prefix length of %s, or a larger block", kind, bits, block, use)
		}
		var out []netip.Prefix
		for range s.AZs {
			a := align(next, bits)
			p := netip.PrefixFrom(a, bits)
			if !block.Contains(a) || !block.Contains(lastAddr(p)) {
				return nil, fmt.Errorf("%s subnets: %d x /%d do not fit in %s after the other subnets", kind, len(s.AZs), bits, block)
			}
			out = append(out, p)
			next = nextAddr(lastAddr(p))
		}
		return out, nil
	}
	priv, err := alloc("private", vpc, s.PrivateBits)
	if err != nil {
		return Layout{}, err
	}
	for i, p := range priv {
		l.Subnets = append(l.Subnets, subnet("private", s.AZs[i], p, Private, s.PrefixReservation && podHere))
	}
	if s.PublicBits != 0 {
		pub, err := alloc("public", vpc, s.PublicBits)
		if err != nil {
			return Layout{}, err
		}
		for i, p := range pub {
			l.Subnets = append(l.Subnets, subnet("public", s.AZs[i], p, Public, false))
		}
	}
	if s.PodCIDR != "" {
		podBlock, err := parseBlock("pod CIDR", s.PodCIDR)
		if err != nil {
			return Layout{}, err
		}
		if podBlock.Overlaps(vpc) {
			return Layout{}, fmt.Errorf("pod CIDR %s overlaps VPC CIDR %s", podBlock, vpc)
		}
		next = podBlock.Addr()
		pods, err := alloc("pod", podBlock, s.PodBits)
		if err != nil {
			return Layout{}, err
		}
		for i, p := range pods {
			l.Subnets = append(l.Subnets, subnet("pod", s.AZs[i], p, Pod, s.PrefixReservation))
		}
	}
	return l, nil
}

func subnet(kind, az string, p netip.Prefix, role Role, reserve bool) Subnet {
	sn := Subnet{Name: kind + "-" + az, AZ: az, CIDR: p.String(), Role: role}
	if reserve && p.Bits() < 28 {
		half := p.Bits() + 1
		upper := nextAddr(lastAddr(netip.PrefixFrom(p.Addr(), half)))
		sn.Reservation = netip.PrefixFrom(upper, half).String()
	}
	return sn
}

func parseBlock(what, cidr string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s %q: %w", what, cidr, err)
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%s %q: must be IPv4", what, cidr)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%s %q: host bits set, did you mean %s", what, cidr, p.Masked())
	}
	if p.Bits() < 16 || p.Bits() > 28 {
		return netip.Prefix{}, fmt.Errorf("%s %q: AWS VPC blocks are /16 (65536 addresses) to /28 (16); use a prefix length of 16 to 28", what, cidr)
	}
	return p, nil
}

func toInt(a netip.Addr) *big.Int { b := a.As4(); return new(big.Int).SetBytes(b[:]) }

func fromInt(i *big.Int) netip.Addr {
	var b [4]byte
	i.FillBytes(b[:])
	return netip.AddrFrom4(b)
}

// align rounds a up to the next multiple of the block size of /bits.
func align(a netip.Addr, bits int) netip.Addr {
	size := new(big.Int).Lsh(big.NewInt(1), uint(32-bits))
	v := toInt(a)
	rem := new(big.Int).Mod(v, size)
	if rem.Sign() == 0 {
		return a
	}
	v.Add(v, new(big.Int).Sub(size, rem))
	if v.BitLen() > 32 {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	return fromInt(v)
}

func lastAddr(p netip.Prefix) netip.Addr {
	size := new(big.Int).Lsh(big.NewInt(1), uint(32-p.Bits()))
	v := toInt(p.Addr())
	v.Add(v, size)
	v.Sub(v, big.NewInt(1))
	return fromInt(v)
}

func nextAddr(a netip.Addr) netip.Addr {
	n := a.Next()
	if !n.IsValid() {
		return a
	}
	return n
}

// Overlaps reports whether two CIDR blocks share any address.
func Overlaps(a, b string) (bool, error) {
	pa, err := netip.ParsePrefix(a)
	if err != nil {
		return false, fmt.Errorf("parse cidr %q: %w", a, err)
	}
	pb, err := netip.ParsePrefix(b)
	if err != nil {
		return false, fmt.Errorf("parse cidr %q: %w", b, err)
	}
	return pa.Overlaps(pb), nil
}
