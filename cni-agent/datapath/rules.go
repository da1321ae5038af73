package datapath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Unit is one unit of the agent's address pool, a /28 prefix (prefix mode)
// or a secondary IP as a /32 (secondary mode), with the route table of the
// ENI that owns it. Every address of a unit lives on that one ENI, so one
// pair of policy rules routes all of them:
//
//	to <unit> lookup main          (ToPodRulePriority: delivered to the pod's veth)
//	from <unit> lookup <ENI table> (FromPodRulePriority; none on the primary ENI)
//
// The agent owns these rules: it adds a unit's rules before the unit's
// addresses can be allocated and removes them after the unit left the pool,
// so ADD and DEL touch no rule, and the rule list holds two entries per unit
// instead of two per pod (32 instead of 500 with 250 pods in prefix mode; the
// kernel walks the list for every rule change and every routed packet). The
// rules of a free address route nothing: the main table has no route to it.
type Unit struct {
	Prefix netip.Prefix
	Table  int
}

// Validate names what makes u unusable.
func (u Unit) Validate() error {
	switch {
	case !u.Prefix.IsValid() || !u.Prefix.Addr().Is4() || u.Prefix != u.Prefix.Masked():
		return fmt.Errorf("address unit %v: must be an IPv4 prefix with no host bits", u.Prefix)
	case u.Table <= 0 || u.Table == 255 || u.Table == 253:
		return fmt.Errorf("address unit %s: route table %d: must be 254 (main) or an ENI table other than local (255) and default (253)", u.Prefix, u.Table)
	}
	return nil
}

// rules are u's policy rules.
func (u Unit) rules() []*netlink.Rule {
	to := netlink.NewRule()
	to.Family, to.Priority, to.Dst, to.Table = netlink.FAMILY_V4, ToPodRulePriority, prefixNet(u.Prefix), MainTable
	out := []*netlink.Rule{to}
	if u.Table != MainTable {
		from := netlink.NewRule()
		from.Family, from.Priority, from.Src, from.Table = netlink.FAMILY_V4, FromPodRulePriority, prefixNet(u.Prefix), u.Table
		out = append(out, from)
	}
	return out
}

// lines renders u's rules as Desired does.
func (u Unit) lines() []string {
	out := []string{ruleLine(ToPodRulePriority, "to", u.Prefix, MainTable)}
	if u.Table != MainTable {
		out = append(out, ruleLine(FromPodRulePriority, "from", u.Prefix, u.Table))
	}
	return out
}

// AddUnitRules adds the rules of units that are not there yet; it is
// idempotent. The agent calls it before the units' addresses can be
// allocated, so no pod is ever wired without its rules.
func AddUnitRules(units []Unit) error {
	var errs []error
	for _, u := range units {
		if err := u.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range u.rules() {
			if err := netlink.RuleAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
				errs = append(errs, fmt.Errorf("adding policy rule %s: %w", r, err))
			}
		}
	}
	return errors.Join(errs...)
}

// SyncUnitRules makes the rules at the pod priorities (ToPodRulePriority,
// FromPodRulePriority) exactly those of units: missing ones are added, and
// every other rule at those priorities is deleted: the rules of units that
// left the pool, a unit's rule pointing at another ENI's table, and the
// per-pod /32 rules earlier versions of the plugin added. It reads the rule
// list once. The agent calls it at start and after units leave the pool.
func SyncUnitRules(units []Unit) (added, deleted int, err error) {
	want := map[string]*netlink.Rule{}
	for _, u := range units {
		if err := u.Validate(); err != nil {
			return 0, 0, err
		}
		for _, r := range u.rules() {
			want[ruleKey(r.Priority, r.Src, r.Dst, r.Table)] = r
		}
	}
	have, err := netlink.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return 0, 0, fmt.Errorf("listing policy rules: %w", err)
	}
	var errs []error
	seen := map[string]bool{}
	for _, r := range have {
		if r.Priority != ToPodRulePriority && r.Priority != FromPodRulePriority {
			continue
		}
		k := ruleKey(r.Priority, r.Src, r.Dst, r.Table)
		if _, ok := want[k]; ok && !seen[k] {
			seen[k] = true
			continue
		}
		if err := netlink.RuleDel(&r); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting policy rule %s: %w", r, err))
			continue
		}
		deleted++
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if seen[k] {
			continue
		}
		if err := netlink.RuleAdd(want[k]); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("adding policy rule %s: %w", want[k], err))
			continue
		}
		added++
	}
	return added, deleted, errors.Join(errs...)
}

// ruleKey identifies a rule by what this package sets: priority, selector
// and table.
func ruleKey(prio int, src, dst *net.IPNet, table int) string {
	return fmt.Sprintf("%d from %s to %s table %d", prio, src, dst, table)
}
