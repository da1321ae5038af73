package snat

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Apply makes the kernel hold exactly Plan(c): the table is created if
// missing, emptied and refilled in one netlink batch, so applying twice
// yields the same rule set and no packet ever sees a partial one. It also
// ensures the fwmark policy rule. External mode keeps only the primary-ENI
// connmark rules.
func Apply(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	conn, closeNS, err := dial(c.Netns)
	if err != nil {
		return err
	}
	defer closeNS()

	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	// add (no-op when present) + delete + add, in one transaction: the usual
	// way to replace a table atomically whether or not it existed.
	conn.AddTable(table)
	conn.DelTable(table)
	conn.AddTable(table)
	byName := map[string]*nftables.Chain{}
	for _, d := range chains {
		ch := &nftables.Chain{Name: d.name, Table: table}
		switch d.name {
		case chainPrerouting:
			ch.Type, ch.Hooknum, ch.Priority = nftables.ChainTypeFilter, nftables.ChainHookPrerouting, nftables.ChainPriorityMangle
		case chainPostrouting:
			ch.Type, ch.Hooknum, ch.Priority = nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource
		}
		if ch.Hooknum != nil {
			accept := nftables.ChainPolicyAccept
			ch.Policy = &accept
		}
		byName[d.name] = conn.AddChain(ch)
	}
	for _, r := range Plan(c).Rules {
		exprs, err := r.exprs()
		if err != nil {
			return fmt.Errorf("snat: building rule %q: %w", r, err)
		}
		nr := &nftables.Rule{Table: table, Chain: byName[r.Chain], Exprs: exprs}
		if r.Comment != "" {
			nr.UserData = userdata.AppendString(nil, userdata.TypeComment, r.Comment)
		}
		conn.AddRule(nr)
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("snat: replacing nftables table ip %s: %w", TableName, err)
	}
	if err := ensureMarkRule(c.Netns); err != nil {
		return err
	}
	return nil
}

// Remove deletes the table and the fwmark policy rule from the calling
// thread's network namespace; removing what is not there succeeds. Used by
// `eksnet-agent uninstall`.
func Remove(ctx context.Context) error { return RemoveAt(ctx, "") }

// RemoveAt is Remove for the network namespace at netnsPath ("" = current).
func RemoveAt(ctx context.Context, netnsPath string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	conn, closeNS, err := dial(netnsPath)
	if err != nil {
		return err
	}
	defer closeNS()
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	conn.AddTable(table)
	conn.DelTable(table)
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("snat: deleting nftables table ip %s: %w", TableName, err)
	}
	return deleteMarkRule(netnsPath)
}

// Installed reports whether the table exists in the namespace at netnsPath
// ("" = current) and how many rules the kernel holds in it, for status
// output and tests.
func Installed(netnsPath string) (rules int, ok bool, err error) {
	conn, closeNS, err := dial(netnsPath)
	if err != nil {
		return 0, false, err
	}
	defer closeNS()
	t, err := conn.ListTableOfFamily(TableName, nftables.TableFamilyIPv4)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("snat: reading table ip %s: %w", TableName, err)
	}
	chs, err := conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return 0, false, fmt.Errorf("snat: listing chains: %w", err)
	}
	for _, ch := range chs {
		if ch.Table.Name != t.Name {
			continue
		}
		rs, err := conn.GetRules(t, ch)
		if err != nil {
			return 0, false, fmt.Errorf("snat: listing rules of chain %s: %w", ch.Name, err)
		}
		rules += len(rs)
	}
	return rules, true, nil
}

func dial(netnsPath string) (*nftables.Conn, func(), error) {
	if netnsPath == "" {
		c, err := nftables.New()
		if err != nil {
			return nil, nil, fmt.Errorf("snat: opening nftables: %w", err)
		}
		return c, func() {}, nil
	}
	h, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return nil, nil, fmt.Errorf("snat: opening network namespace %s: %w", netnsPath, err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		h.Close()
		return nil, nil, fmt.Errorf("snat: opening nftables in %s: %w", netnsPath, err)
	}
	return c, func() { h.Close() }, nil
}

func netlinkHandle(netnsPath string) (*netlink.Handle, error) {
	if netnsPath == "" {
		return netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	h, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("snat: opening network namespace %s: %w", netnsPath, err)
	}
	defer h.Close()
	return netlink.NewHandleAt(h, unix.NETLINK_ROUTE)
}

// markRule is "fwmark Mark/Mark lookup main" at RulePriority.
func markRule() *netlink.Rule {
	r := netlink.NewRule()
	mask := Mark
	r.Family, r.Priority, r.Mark, r.Mask, r.Table = netlink.FAMILY_V4, RulePriority, Mark, &mask, MainTable
	return r
}

func isMarkRule(r netlink.Rule) bool {
	return r.Priority == RulePriority && r.Mark == Mark && r.Mask != nil && *r.Mask == Mark && r.Table == MainTable
}

func ensureMarkRule(netnsPath string) error {
	h, err := netlinkHandle(netnsPath)
	if err != nil {
		return err
	}
	defer h.Close()
	rules, err := h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("snat: listing policy rules: %w", err)
	}
	for _, r := range rules {
		if isMarkRule(r) {
			return nil
		}
	}
	if err := h.RuleAdd(markRule()); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("snat: adding policy rule fwmark %#x/%#x lookup main priority %d: %w", Mark, Mark, RulePriority, err)
	}
	return nil
}

func deleteMarkRule(netnsPath string) error {
	h, err := netlinkHandle(netnsPath)
	if err != nil {
		return err
	}
	defer h.Close()
	rules, err := h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("snat: listing policy rules: %w", err)
	}
	for _, r := range rules {
		if isMarkRule(r) {
			if err := h.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("snat: deleting policy rule fwmark %#x lookup main: %w", Mark, err)
			}
		}
	}
	return nil
}

// exprs translates one planned rule into nftables expressions.
func (r Rule) exprs() ([]expr.Any, error) {
	var out []expr.Any
	for _, m := range r.Matches {
		e, err := m.exprs()
		if err != nil {
			return nil, err
		}
		out = append(out, e...)
	}
	mark := native(Mark)
	orMark := []expr.Any{
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: native(^Mark), Xor: mark},
	}
	switch r.Action {
	case ActionReturn:
		out = append(out, &expr.Verdict{Kind: expr.VerdictReturn})
	case ActionJump:
		out = append(out, &expr.Verdict{Kind: expr.VerdictJump, Chain: r.Target})
	case ActionSetCtMark:
		out = append(out, &expr.Ct{Key: expr.CtKeyMARK, Register: 1})
		out = append(out, orMark...)
		out = append(out, &expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true})
	case ActionSetMetaMark:
		out = append(out, &expr.Meta{Key: expr.MetaKeyMARK, Register: 1})
		out = append(out, orMark...)
		out = append(out, &expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true})
	case ActionSNAT:
		if !r.SNATTo.Is4() {
			return nil, fmt.Errorf("snat target %v is not IPv4", r.SNATTo)
		}
		out = append(out,
			&expr.Counter{},
			&expr.Immediate{Register: 1, Data: r.SNATTo.AsSlice()},
			&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1, FullyRandom: true},
		)
	default:
		return nil, fmt.Errorf("unknown action %d", r.Action)
	}
	return out, nil
}

func (m Match) exprs() ([]expr.Any, error) {
	op := expr.CmpOpEq
	if m.Negate {
		op = expr.CmpOpNeq
	}
	switch m.Kind {
	case MatchIifname:
		name := make([]byte, unix.IFNAMSIZ)
		copy(name, m.Name)
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: op, Register: 1, Data: name},
		}, nil
	case MatchSaddr, MatchDaddr:
		if !m.Prefix.Addr().Is4() {
			return nil, fmt.Errorf("prefix %v is not IPv4", m.Prefix)
		}
		offset := uint32(12) // saddr in the IPv4 header
		if m.Kind == MatchDaddr {
			offset = 16
		}
		out := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}}
		if !m.Prefix.IsSingleIP() {
			out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: net.CIDRMask(m.Prefix.Bits(), 32), Xor: make([]byte, 4)})
		}
		return append(out, &expr.Cmp{Op: op, Register: 1, Data: m.Prefix.Masked().Addr().AsSlice()}), nil
	case MatchCtNew:
		return []expr.Any{
			&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: native(expr.CtStateBitNEW), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
		}, nil
	case MatchCtMarked:
		return []expr.Any{
			&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: native(Mark), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: native(Mark)},
		}, nil
	}
	return nil, fmt.Errorf("unknown match kind %d", m.Kind)
}

// native encodes v in host byte order, as the kernel keeps marks and ct state.
func native(v uint32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return b
}
