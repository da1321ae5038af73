package ipam

import (
	"fmt"
	"net/netip"
	"slices"
)

// Targets are the warm-pool settings. An IP target (WarmIP or MinimumIP)
// takes precedence over the prefix and ENI targets, as in the AWS VPC CNI.
type Targets struct {
	// Prefix is true in prefix mode: the pool grows and shrinks by /28s.
	Prefix    bool
	WarmIP    int
	MinimumIP int
	// WarmPrefix is the number of free /28s to keep (prefix mode).
	WarmPrefix int
	// WarmENI is the number of free ENIs' worth of addresses to keep
	// (secondary mode); the pool grows by whole ENIs then.
	WarmENI int
}

// Limits are what the instance type (and the max-ENI setting) allow.
type Limits struct {
	// MaxENIs is the number of ENIs the agent may use, primary included.
	MaxENIs int
	// UnitsPerENI is how many secondary IPs or prefixes one ENI holds
	// (IPv4 addresses per ENI - 1: the ENI's primary IP takes a slot).
	UnitsPerENI int
}

// ActionKind says what the warm pool should do next.
type ActionKind string

// The actions.
const (
	None        ActionKind = ""
	AssignUnits ActionKind = "assign"    // Count more IPs/prefixes on ENIID
	CreateENI   ActionKind = "createENI" // a new ENI with Count IPs/prefixes
	ReleaseUnit ActionKind = "release"   // give Units of ENIID back to EC2
	DeleteENI   ActionKind = "deleteENI" // detach and delete ENIID
)

// Action is one step towards the targets.
type Action struct {
	Kind  ActionKind
	ENIID string
	Count int
	Units []netip.Prefix
	// Reason explains the decision for logs and status.
	Reason string
}

// Grows reports whether the action asks EC2 for more addresses.
func (a Action) Grows() bool { return a.Kind == AssignUnits || a.Kind == CreateENI }

func (t Targets) unit() int {
	if t.Prefix {
		return 16
	}
	return 1
}

// Want is the number of addresses the pool should hold: enough for the
// assigned and cooling ones plus the free target, at least the minimum, and
// never more than the node may hand out (capacity) rounded up to a unit.
func (t Targets) Want(s Snapshot, l Limits) int {
	free := t.WarmIP
	if t.WarmIP == 0 && t.MinimumIP == 0 {
		if t.Prefix {
			free = t.WarmPrefix * 16
		} else {
			free = t.WarmENI * l.UnitsPerENI
		}
	}
	want := max(s.Assigned+s.Cooldown+free, t.MinimumIP)
	return min(want, roundUp(s.Capacity, t.unit()))
}

func roundUp(n, unit int) int { return (n + unit - 1) / unit * unit }

// Plan decides the next warm-pool step from a snapshot. It returns one action
// at a time; the caller executes it, takes a new snapshot and asks again, so
// a failure or a concurrent allocation is always decided on fresh state.
func Plan(s Snapshot, t Targets, l Limits) Action {
	unit := t.unit()
	want := t.Want(s, l)
	wholeENIs := !t.Prefix && t.WarmIP == 0 && t.MinimumIP == 0
	if need := want - s.Total; need > 0 {
		units := (need + unit - 1) / unit
		for _, e := range s.ENIs {
			room := l.UnitsPerENI - len(e.Units)
			if room <= 0 {
				continue
			}
			n := min(units, room)
			if wholeENIs {
				n = room
			}
			return Action{Kind: AssignUnits, ENIID: e.ID, Count: n,
				Reason: fmt.Sprintf("pool holds %d addresses, wants %d", s.Total, want)}
		}
		if len(s.ENIs) < l.MaxENIs {
			n := min(units, l.UnitsPerENI)
			if wholeENIs {
				n = l.UnitsPerENI
			}
			return Action{Kind: CreateENI, Count: n,
				Reason: fmt.Sprintf("pool holds %d addresses, wants %d, attached ENIs are full", s.Total, want)}
		}
		return Action{Reason: fmt.Sprintf("pool holds %d addresses, wants %d, but all %d ENIs are full", s.Total, want, l.MaxENIs)}
	}
	surplus := s.Total - want
	if surplus < unit {
		return Action{}
	}
	// Shrink from the highest device number down: a whole idle secondary
	// ENI first (one detach returns all its addresses), else single units.
	enis := slices.Clone(s.ENIs)
	slices.Reverse(enis)
	for _, e := range enis {
		if !e.Primary && e.Assigned == 0 && e.Cooldown == 0 && e.Pending == 0 && e.Total <= surplus {
			return Action{Kind: DeleteENI, ENIID: e.ID,
				Reason: fmt.Sprintf("pool holds %d addresses, wants %d; ENI %s is idle", s.Total, want, e.ID)}
		}
	}
	if wholeENIs {
		// The warm-ENI target grows by whole ENIs; shrinking single IPs
		// would only make it grow the same ENI again.
		return Action{}
	}
	for _, e := range enis {
		var units []netip.Prefix
		left := surplus
		for _, u := range e.Units {
			if u.Removable && left >= unit {
				units = append(units, u.Unit)
				left -= unit
			}
		}
		if len(units) > 0 {
			return Action{Kind: ReleaseUnit, ENIID: e.ID, Units: units,
				Reason: fmt.Sprintf("pool holds %d addresses, wants %d", s.Total, want)}
		}
	}
	return Action{}
}
