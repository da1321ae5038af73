package ipam

import (
	"net/netip"
	"slices"
	"time"
)

// UnitState is one secondary IP (/32) or /28 prefix and how it is used.
type UnitState struct {
	Unit     netip.Prefix
	Assigned int
	Cooldown int
	// Pending is true while the unit waits to be confirmed (Store.Confirm).
	Pending bool
	// Removable is true when nothing in the unit is assigned, cooling down
	// or pending.
	Removable bool
}

// ENIState is one ENI's share of the pool.
type ENIState struct {
	ID           string
	DeviceNumber int
	Primary      bool
	Units        []UnitState
	Total        int
	Assigned     int
	Cooldown     int
	// Pending addresses are unconfirmed ones, neither assigned nor free.
	Pending int
}

// Snapshot is the pool at one instant, what Plan decides on and what
// status and metrics show.
type Snapshot struct {
	Capacity int
	Total    int
	Assigned int
	Cooldown int
	Pending  int
	ENIs     []ENIState // by device number
}

// Free is the number of addresses that can be handed out right now.
func (s Snapshot) Free() int { return s.Total - s.Assigned - s.Cooldown - s.Pending }

// Snapshot captures the pool.
func (s *Store) Snapshot(now time.Time) Snapshot {
	snap := Snapshot{Capacity: s.capacity}
	for _, e := range s.enis {
		es := ENIState{ID: e.ID, DeviceNumber: e.DeviceNumber, Primary: e.Primary}
		for u := range e.units {
			us := UnitState{Unit: u}
			for a := u.Addr(); u.Contains(a); a = a.Next() {
				sl, ok := s.addrs[a]
				if !ok || sl.eni != e.ID {
					continue
				}
				es.Total++
				switch {
				case sl.owner != nil:
					us.Assigned++
				case sl.pending:
					us.Pending = true
					es.Pending++
				case s.cooling(sl, now):
					us.Cooldown++
				}
			}
			us.Removable = us.Assigned == 0 && us.Cooldown == 0 && !us.Pending
			es.Assigned += us.Assigned
			es.Cooldown += us.Cooldown
			es.Units = append(es.Units, us)
		}
		slices.SortFunc(es.Units, func(x, y UnitState) int { return x.Unit.Addr().Compare(y.Unit.Addr()) })
		snap.Total += es.Total
		snap.Assigned += es.Assigned
		snap.Cooldown += es.Cooldown
		snap.Pending += es.Pending
		snap.ENIs = append(snap.ENIs, es)
	}
	slices.SortFunc(snap.ENIs, func(x, y ENIState) int { return x.DeviceNumber - y.DeviceNumber })
	return snap
}
