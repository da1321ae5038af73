// Package snat owns the node's one source-NAT rule set: pod traffic to
// destinations outside the VPC (and outside the user's exclusions) leaves with
// the primary ENI's address, as EC2 only routes addresses of the ENI a packet
// leaves through to the internet gateway or NAT gateway.
//
// The rules live in an nftables table of their own (ip eksnet), so they are
// replaced in one netlink batch (atomic: the kernel never sees half a rule
// set), never interleave with kube-proxy's or anyone else's chains, and
// survive agent restarts because they are kernel state. They are built from a
// pure plan (Plan) that renders as nft syntax for table tests and for
// operators, and applied by a thin adapter (Apply, Remove).
//
// Besides SNAT the table marks connections that must leave through the
// primary ENI (connmark, restored onto each packet as fwmark Mark), and a
// policy rule sends marked packets to the main table, ahead of the pods'
// from-pod rules that would route them through a secondary ENI:
//   - connections that arrived on the primary ENI for the primary IP (for
//     example NodePort traffic DNATed to a pod on a secondary ENI): the replies
//     must leave where the request came in, with the address it came to;
//   - pod connections that are SNATed to the primary IP: a packet with the
//     primary IP as source leaving a secondary ENI would be dropped by EC2's
//     source/destination check.
package snat

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Names and numbers other parts of eksnet and operators rely on.
const (
	// TableName is the nftables table (family ip) holding every eksnet rule.
	TableName = "eksnet"
	// Mark is the connmark/fwmark bit meaning "leave through the primary ENI".
	Mark uint32 = 0x80
	// RulePriority is the priority of "fwmark Mark/Mark lookup main": after
	// the to-pod rules (512), before the from-pod rules (1536).
	RulePriority = 1024
	// MainTable is the routing table marked packets use.
	MainTable = 254
)

// Config is the node's SNAT policy.
type Config struct {
	// PrimaryIP is the primary ENI's primary private address: the SNAT source.
	PrimaryIP netip.Addr
	// PrimaryLink is the primary ENI's interface name on the node (eth0, ens5).
	PrimaryLink string
	// VPCCIDRs are the VPC's IPv4 CIDR blocks: traffic to them keeps the pod's
	// address, and sources in them are the pods whose traffic is SNATed.
	VPCCIDRs []netip.Prefix
	// Exclude are further destinations that keep the pod's address (peered
	// VPCs, on-premises ranges reached over a VPN or Direct Connect).
	Exclude []netip.Prefix
	// External turns SNAT off: something outside the node (a NAT gateway)
	// translates, and pods' traffic leaves through their own ENI with their
	// own address. The primary-ENI connmark stays.
	External bool
	// Netns is the path of the network namespace to program; empty means the
	// calling thread's. The agent leaves it empty; tests and tools set it.
	Netns string
}

// Validate names the first field that is wrong.
func (c Config) Validate() error {
	switch {
	case !c.PrimaryIP.Is4():
		return fmt.Errorf("snat: PrimaryIP %v: must be the primary ENI's IPv4 address", c.PrimaryIP)
	case c.PrimaryLink == "" || len(c.PrimaryLink) > 15:
		return fmt.Errorf("snat: PrimaryLink %q: must be an interface name of 1 to 15 characters", c.PrimaryLink)
	case len(c.VPCCIDRs) == 0:
		return fmt.Errorf("snat: VPCCIDRs is empty: at least the VPC's primary IPv4 CIDR is needed")
	}
	for _, list := range []struct {
		name string
		ps   []netip.Prefix
	}{{"VPCCIDRs", c.VPCCIDRs}, {"Exclude", c.Exclude}} {
		for _, p := range list.ps {
			if !p.IsValid() || !p.Addr().Is4() {
				return fmt.Errorf("snat: %s entry %v: must be an IPv4 CIDR", list.name, p)
			}
			if p.Masked() != p {
				return fmt.Errorf("snat: %s entry %v: host bits set (did you mean %v?)", list.name, p, p.Masked())
			}
		}
	}
	return nil
}

// Chain names in the table.
const (
	chainPrerouting  = "prerouting"  // filter, priority mangle: marks
	chainSNATMark    = "snat-mark"   // regular: is this pod connection SNATed?
	chainPostrouting = "postrouting" // nat, priority srcnat: the SNAT itself
)

// Match is one condition of a rule, kept structured so the same plan drives
// both the text rendering and the netlink expressions.
type Match struct {
	Kind   MatchKind
	Negate bool
	Name   string       // MatchIifname
	Prefix netip.Prefix // MatchSaddr, MatchDaddr (a /32 for one address)
}

// MatchKind says what a Match compares.
type MatchKind int

// The conditions the plan uses.
const (
	MatchIifname  MatchKind = iota // meta iifname
	MatchSaddr                     // ip saddr
	MatchDaddr                     // ip daddr
	MatchCtNew                     // ct state new
	MatchCtMarked                  // ct mark & Mark == Mark
)

// ActionKind is what a rule does when it matches.
type ActionKind int

// The actions the plan uses.
const (
	ActionReturn      ActionKind = iota // return
	ActionJump                          // jump Target
	ActionSetCtMark                     // ct mark set ct mark | Mark
	ActionSetMetaMark                   // meta mark set meta mark | Mark
	ActionSNAT                          // snat to SNATTo fully-random
)

// Rule is one planned rule.
type Rule struct {
	Chain   string
	Matches []Match
	Action  ActionKind
	Target  string     // ActionJump
	SNATTo  netip.Addr // ActionSNAT
	Comment string
}

// Ruleset is the whole planned table.
type Ruleset struct {
	Rules []Rule
}

// Plan computes the rule set for c. It is pure: Apply programs exactly this.
func Plan(c Config) Ruleset {
	var rs Ruleset
	add := func(r Rule) { rs.Rules = append(rs.Rules, r) }
	primary := netip.PrefixFrom(c.PrimaryIP, 32)
	nosnat := append(slices.Clone(c.VPCCIDRs), c.Exclude...)

	add(Rule{Chain: chainPrerouting, Matches: []Match{
		{Kind: MatchIifname, Name: c.PrimaryLink}, {Kind: MatchDaddr, Prefix: primary}, {Kind: MatchCtNew},
	}, Action: ActionSetCtMark, Comment: "connections arriving on the primary ENI answer through it"})
	if !c.External {
		add(Rule{Chain: chainPrerouting, Matches: []Match{
			{Kind: MatchIifname, Negate: true, Name: c.PrimaryLink}, {Kind: MatchCtNew},
		}, Action: ActionJump, Target: chainSNATMark, Comment: "pod connections that will be SNATed"})
	}
	add(Rule{Chain: chainPrerouting, Matches: []Match{
		{Kind: MatchIifname, Negate: true, Name: c.PrimaryLink}, {Kind: MatchCtMarked},
	}, Action: ActionSetMetaMark, Comment: "route marked connections by the main table"})

	if !c.External {
		for _, p := range nosnat {
			add(Rule{Chain: chainSNATMark, Matches: []Match{{Kind: MatchDaddr, Prefix: p}}, Action: ActionReturn})
		}
		for _, p := range c.VPCCIDRs {
			add(Rule{Chain: chainSNATMark, Matches: []Match{{Kind: MatchSaddr, Prefix: p}}, Action: ActionSetCtMark})
		}
		for _, p := range nosnat {
			add(Rule{Chain: chainPostrouting, Matches: []Match{{Kind: MatchDaddr, Prefix: p}}, Action: ActionReturn,
				Comment: "inside the VPC or excluded: keep the pod address"})
		}
		add(Rule{Chain: chainPostrouting, Matches: []Match{{Kind: MatchSaddr, Prefix: primary}}, Action: ActionReturn,
			Comment: "the node's own traffic keeps its ports"})
		for _, p := range c.VPCCIDRs {
			add(Rule{Chain: chainPostrouting, Matches: []Match{{Kind: MatchSaddr, Prefix: p}}, Action: ActionSNAT, SNATTo: c.PrimaryIP,
				Comment: "pod traffic leaving the VPC"})
		}
	}
	return rs
}

// chainDecl is a chain's header in the rendering and the kernel.
type chainDecl struct {
	name, header string
}

var chains = []chainDecl{
	{chainPrerouting, "type filter hook prerouting priority mangle; policy accept;"},
	{chainSNATMark, ""},
	{chainPostrouting, "type nat hook postrouting priority srcnat; policy accept;"},
}

// String renders the rule set in nft syntax, as `nft list table ip eksnet`
// would show it (modulo handles and counters).
func (rs Ruleset) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", TableName)
	for i, c := range chains {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n", c.name)
		if c.header != "" {
			fmt.Fprintf(&b, "\t\t%s\n", c.header)
		}
		for _, r := range rs.Rules {
			if r.Chain == c.name {
				fmt.Fprintf(&b, "\t\t%s\n", r)
			}
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// String renders one rule in nft syntax.
func (r Rule) String() string {
	var parts []string
	for _, m := range r.Matches {
		parts = append(parts, m.String())
	}
	switch r.Action {
	case ActionReturn:
		parts = append(parts, "return")
	case ActionJump:
		parts = append(parts, "jump "+r.Target)
	case ActionSetCtMark:
		parts = append(parts, fmt.Sprintf("ct mark set ct mark | %#x", Mark))
	case ActionSetMetaMark:
		parts = append(parts, fmt.Sprintf("meta mark set meta mark | %#x", Mark))
	case ActionSNAT:
		parts = append(parts, fmt.Sprintf("counter snat to %s fully-random", r.SNATTo))
	}
	if r.Comment != "" {
		parts = append(parts, fmt.Sprintf("comment %q", r.Comment))
	}
	return strings.Join(parts, " ")
}

// String renders one condition in nft syntax.
func (m Match) String() string {
	op := ""
	if m.Negate {
		op = "!= "
	}
	switch m.Kind {
	case MatchIifname:
		return fmt.Sprintf("iifname %s%q", op, m.Name)
	case MatchSaddr, MatchDaddr:
		field := "saddr"
		if m.Kind == MatchDaddr {
			field = "daddr"
		}
		v := m.Prefix.String()
		if m.Prefix.IsSingleIP() {
			v = m.Prefix.Addr().String()
		}
		return fmt.Sprintf("ip %s %s%s", field, op, v)
	case MatchCtNew:
		return "ct state new"
	case MatchCtMarked:
		return fmt.Sprintf("ct mark & %#x == %#x", Mark, Mark)
	}
	return fmt.Sprintf("<match %d>", m.Kind)
}
