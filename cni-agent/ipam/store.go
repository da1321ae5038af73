// Package ipam is the agent's address bookkeeping and its warm-pool decisions,
// both pure: no EC2, no kernel, no clock of its own (callers pass now).
//
// The Store maps ENI -> /32 secondary IP or /28 prefix -> address -> owner,
// keyed by the CNI triple (network, container ID, interface). It answers an
// allocation from memory, so the plugin never waits on EC2: if nothing is free
// the answer is an immediate error and the warm pool (Plan) catches up in the
// background. A released address rests for a cooldown before it is handed out
// again, so a stale conntrack entry, ARP cache or a peer that still routes to
// the old pod cannot leak traffic into a new one. A unit new to the store is
// pending until its caller confirms it (Confirm: IMDS lists it, which in AWS
// lags EC2 by seconds); pending addresses count towards the pool, so the warm
// pool does not grow twice for them, but are never handed out.
//
// The Store is not safe for concurrent use; the agent serialises access
// because every change must also reach the checkpoint before it is answered.
package ipam

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// Owner is who holds an address.
type Owner struct {
	Key          rpc.Key   `json:"key"`
	Netns        string    `json:"netns,omitempty"`
	PodNamespace string    `json:"podNamespace,omitempty"`
	PodName      string    `json:"podName,omitempty"`
	Since        time.Time `json:"since"`
}

// Assignment is an address held by an owner and the ENI it lives on.
type Assignment struct {
	Owner
	Address      netip.Addr `json:"address"`
	ENIID        string     `json:"eniID"`
	DeviceNumber int        `json:"deviceNumber"`
	Primary      bool       `json:"primary"`
}

// ENI is an interface as EC2/IMDS report it: its pod addresses are either
// secondary IPs (secondary mode) or /28 prefixes (prefix mode); the ENI's own
// primary IP is never a pod address.
type ENI struct {
	ID           string
	DeviceNumber int
	Primary      bool
	IPs          []netip.Addr
	Prefixes     []netip.Prefix
}

// FullError says the node holds as many pods as it may.
type FullError struct{ Assigned, Capacity int }

// Error says how full the node is.
func (e *FullError) Error() string {
	return fmt.Sprintf("node full (%d/%d)", e.Assigned, e.Capacity)
}

// EmptyError says nothing is free right now: the warm pool is refilling, or
// freed addresses are cooling down and the pool may not grow.
type EmptyError struct {
	Assigned, Cooldown int
	// Pending addresses are on the node's ENIs in EC2 but not confirmed
	// yet (IMDS does not list them yet).
	Pending int
	// NextFree is how long until the first cooling address may be handed
	// out again (zero when none is cooling).
	NextFree time.Duration
	// Stuck, when set, says why the pool cannot grow; the store cannot
	// know, its caller (who knows the targets and limits) fills it in.
	Stuck string
	// LastFailure, when set, is why the pool's last attempt to grow failed.
	LastFailure string
}

// Error says why nothing is free and when that changes.
func (e *EmptyError) Error() string {
	msg := fmt.Sprintf("warm pool empty (%d assigned, %d cooling down)", e.Assigned, e.Cooldown)
	if e.Pending > 0 {
		msg = fmt.Sprintf("warm pool empty (%d assigned, %d cooling down, %d added and waiting for IMDS to list them)", e.Assigned, e.Cooldown, e.Pending)
	}
	if e.Stuck != "" {
		msg += " and no address can be added: " + e.Stuck
	} else {
		msg += "; the agent is adding addresses"
		if e.LastFailure != "" {
			msg += " (its last attempt failed: " + e.LastFailure + ")"
		}
	}
	if e.Cooldown > 0 {
		msg += fmt.Sprintf("; the first cooling address frees in %s", e.NextFree.Round(100*time.Millisecond))
	}
	return msg
}

type slot struct {
	eni     string
	prefix  netip.Prefix // zero for a /32 secondary IP
	owner   *Owner
	freedAt time.Time // when the last owner released it; zero = never owned
	// pending: the unit is not confirmed yet (see Confirm); never handed out.
	pending bool
	// keptFor is the pod whose dead sandbox held the address
	// (ReleaseKeptForPod): a new sandbox of that pod gets it back.
	keptFor podRef
}

// podRef names a Kubernetes pod by namespace and name.
type podRef struct{ namespace, name string }

func podOf(o Owner) podRef { return podRef{o.PodNamespace, o.PodName} }

type eniEntry struct {
	ENI
	// units are the ENI's secondary IPs (as /32) or prefixes.
	units map[netip.Prefix]bool
}

// Store is the datastore. Create it with NewStore.
type Store struct {
	capacity int
	cooldown time.Duration
	enis     map[string]*eniEntry
	addrs    map[netip.Addr]*slot
	byKey    map[rpc.Key]netip.Addr
	// kept finds the address kept for a pod (slot.keptFor), so Assign
	// need not scan the pool.
	kept map[podRef]netip.Addr
}

// NewStore returns an empty store handing out at most capacity addresses,
// each resting cooldown after release.
func NewStore(capacity int, cooldown time.Duration) *Store {
	return &Store{
		capacity: capacity,
		cooldown: cooldown,
		enis:     map[string]*eniEntry{},
		addrs:    map[netip.Addr]*slot{},
		byKey:    map[rpc.Key]netip.Addr{},
		kept:     map[podRef]netip.Addr{},
	}
}

// Capacity is the most addresses the store hands out at once.
func (s *Store) Capacity() int { return s.capacity }

// PutENI makes the store's view of e exactly what is given: new addresses
// become pending, addresses no longer there are dropped. Dropped addresses that
// were assigned are returned: EC2 took them away, so their owners must be
// told (they can no longer be trusted to be unique).
func (s *Store) PutENI(e ENI) []Assignment {
	entry, ok := s.enis[e.ID]
	if !ok {
		entry = &eniEntry{units: map[netip.Prefix]bool{}}
		s.enis[e.ID] = entry
	}
	entry.ENI = ENI{ID: e.ID, DeviceNumber: e.DeviceNumber, Primary: e.Primary}
	want := map[netip.Prefix]bool{}
	for _, ip := range e.IPs {
		want[netip.PrefixFrom(ip, 32)] = true
	}
	for _, p := range e.Prefixes {
		want[p.Masked()] = true
	}
	var dropped []Assignment
	for u := range entry.units {
		if !want[u] {
			dropped = append(dropped, s.dropUnit(entry, u)...)
		}
	}
	for u := range want {
		if !entry.units[u] {
			s.addUnit(entry, u)
		}
	}
	return dropped
}

// AddUnits adds secondary IPs (as /32) or prefixes to a known ENI as pending.
func (s *Store) AddUnits(eniID string, units []netip.Prefix) error {
	entry, ok := s.enis[eniID]
	if !ok {
		return fmt.Errorf("adding addresses to ENI %s: unknown ENI", eniID)
	}
	for _, u := range units {
		if !entry.units[u.Masked()] {
			s.addUnit(entry, u.Masked())
		}
	}
	return nil
}

// TakeFreeUnits removes the given units from the store if every address in
// them is still free and out of cooldown, and returns the ones removed, so
// the caller can give them back to EC2 knowing no pod was handed one in the
// meantime. On an EC2 failure the caller puts them back with AddUnits.
func (s *Store) TakeFreeUnits(eniID string, units []netip.Prefix, now time.Time) []netip.Prefix {
	entry, ok := s.enis[eniID]
	if !ok {
		return nil
	}
	var out []netip.Prefix
	for _, u := range units {
		if entry.units[u] && s.unitRemovable(u, now) {
			s.dropUnit(entry, u)
			out = append(out, u)
		}
	}
	return out
}

// RemoveENI forgets an ENI and returns the assignments it held.
func (s *Store) RemoveENI(eniID string) []Assignment {
	entry, ok := s.enis[eniID]
	if !ok {
		return nil
	}
	var dropped []Assignment
	for u := range entry.units {
		dropped = append(dropped, s.dropUnit(entry, u)...)
	}
	delete(s.enis, eniID)
	return dropped
}

func (s *Store) addUnit(entry *eniEntry, u netip.Prefix) {
	entry.units[u] = true
	var pfx netip.Prefix
	if u.Bits() != 32 {
		pfx = u
	}
	for a := u.Addr(); u.Contains(a); a = a.Next() {
		if _, taken := s.addrs[a]; !taken {
			s.addrs[a] = &slot{eni: entry.ID, prefix: pfx, pending: true}
		}
	}
}

// Confirm makes the pending units of an ENI that are among seen free to
// hand out, and returns how many units it confirmed. The agent confirms a
// unit once IMDS lists it on the ENI: EC2 has then carried the assignment
// to the instance, which it reports seconds after its API answered.
func (s *Store) Confirm(eniID string, seen []netip.Prefix) int {
	entry, ok := s.enis[eniID]
	if !ok {
		return 0
	}
	n := 0
	for _, u := range seen {
		u = u.Masked()
		if !entry.units[u] {
			continue
		}
		confirmed := false
		for a := u.Addr(); u.Contains(a); a = a.Next() {
			if sl, ok := s.addrs[a]; ok && sl.eni == entry.ID && sl.pending {
				sl.pending, confirmed = false, true
			}
		}
		if confirmed {
			n++
		}
	}
	return n
}

// Pending returns, per ENI, its units that wait to be confirmed.
func (s *Store) Pending() map[string][]netip.Prefix {
	out := map[string][]netip.Prefix{}
	for id, entry := range s.enis {
		for u := range entry.units {
			if sl, ok := s.addrs[u.Addr()]; ok && sl.eni == id && sl.pending {
				out[id] = append(out[id], u)
			}
		}
	}
	return out
}

func (s *Store) dropUnit(entry *eniEntry, u netip.Prefix) []Assignment {
	delete(entry.units, u)
	var dropped []Assignment
	for a := u.Addr(); u.Contains(a); a = a.Next() {
		sl, ok := s.addrs[a]
		if !ok || sl.eni != entry.ID {
			continue
		}
		if sl.owner != nil {
			dropped = append(dropped, s.assignment(a, sl))
			delete(s.byKey, sl.owner.Key)
		}
		delete(s.addrs, a)
	}
	return dropped
}

func (s *Store) unitRemovable(u netip.Prefix, now time.Time) bool {
	for a := u.Addr(); u.Contains(a); a = a.Next() {
		sl, ok := s.addrs[a]
		if ok && (sl.owner != nil || sl.pending || s.cooling(sl, now)) {
			return false
		}
	}
	return true
}

func (s *Store) cooling(sl *slot, now time.Time) bool {
	return sl.owner == nil && !sl.freedAt.IsZero() && now.Sub(sl.freedAt) < s.cooldown
}

func (s *Store) assignment(a netip.Addr, sl *slot) Assignment {
	e := s.enis[sl.eni]
	return Assignment{Owner: *sl.owner, Address: a, ENIID: sl.eni, DeviceNumber: e.DeviceNumber, Primary: e.Primary}
}

// Assign gives o.Key an address: the one it already holds, else a free one
// out of cooldown. Among free addresses it packs: it prefers the prefix (or
// ENI) with the most assigned addresses, so whole prefixes and ENIs stay
// free and can be returned to EC2.
//
// A new sandbox of a pod whose earlier sandbox died with its address
// (ReleaseKeptForPod) gets that address back first, cooling or not: the
// address's last user was the same pod, so nothing that still sends to it
// can reach another pod.
func (s *Store) Assign(o Owner, now time.Time) (Assignment, error) {
	if a, ok := s.byKey[o.Key]; ok {
		return s.assignment(a, s.addrs[a]), nil
	}
	if len(s.byKey) >= s.capacity {
		return Assignment{}, &FullError{Assigned: len(s.byKey), Capacity: s.capacity}
	}
	if pod := podOf(o); pod.name != "" {
		if a, ok := s.kept[pod]; ok {
			if sl := s.addrs[a]; sl != nil && sl.owner == nil && sl.keptFor == pod {
				return s.take(o, a, sl, now), nil
			}
			delete(s.kept, pod) // the address left the pool
		}
	}
	load := map[group]int{} // prefix or ENI -> assigned
	for _, sl := range s.addrs {
		if sl.owner != nil {
			load[groupOf(sl)]++
		}
	}
	var best netip.Addr
	var bestSlot *slot
	better := func(a netip.Addr, sl *slot) bool {
		if bestSlot == nil {
			return true
		}
		if c := cmp.Compare(load[groupOf(sl)], load[groupOf(bestSlot)]); c != 0 {
			return c > 0
		}
		if c := cmp.Compare(s.enis[sl.eni].DeviceNumber, s.enis[bestSlot.eni].DeviceNumber); c != 0 {
			return c < 0
		}
		// Never-used addresses first, then the longest rested.
		if !sl.freedAt.Equal(bestSlot.freedAt) {
			return sl.freedAt.Before(bestSlot.freedAt)
		}
		return a.Less(best)
	}
	cooling, pending, nextFree := 0, 0, s.cooldown
	for a, sl := range s.addrs {
		if sl.owner != nil {
			continue
		}
		if sl.pending {
			pending++
			continue
		}
		if s.cooling(sl, now) {
			cooling++
			nextFree = min(nextFree, s.cooldown-now.Sub(sl.freedAt))
			continue
		}
		if better(a, sl) {
			best, bestSlot = a, sl
		}
	}
	if bestSlot == nil {
		if cooling == 0 {
			nextFree = 0
		}
		return Assignment{}, &EmptyError{Assigned: len(s.byKey), Cooldown: cooling, Pending: pending, NextFree: nextFree}
	}
	return s.take(o, best, bestSlot, now), nil
}

// take gives o the free address a.
func (s *Store) take(o Owner, a netip.Addr, sl *slot, now time.Time) Assignment {
	o.Since = now
	sl.owner = &o
	if sl.keptFor != (podRef{}) {
		if s.kept[sl.keptFor] == a {
			delete(s.kept, sl.keptFor)
		}
		sl.keptFor = podRef{}
	}
	s.byKey[o.Key] = a
	return s.assignment(a, sl)
}

// group is what Assign packs addresses into: the /28 prefix in prefix mode,
// else the ENI. A comparable key, so counting the load allocates nothing.
type group struct {
	prefix netip.Prefix
	eni    string
}

func groupOf(sl *slot) group {
	if sl.prefix.IsValid() {
		return group{prefix: sl.prefix}
	}
	return group{eni: sl.eni}
}

// Release frees key's address into cooldown and returns what it held.
func (s *Store) Release(key rpc.Key, now time.Time) (Assignment, bool) {
	a, ok := s.byKey[key]
	if !ok {
		return Assignment{}, false
	}
	sl := s.addrs[a]
	out := s.assignment(a, sl)
	sl.owner = nil
	sl.freedAt = now
	delete(s.byKey, key)
	return out, true
}

// ReleaseKeptForPod is Release for an allocation whose sandbox died with
// the node (a reboot) rather than being deleted: the address cools down as
// usual for everyone but its pod (namespace and name), whose next sandbox
// gets it back at once (Assign). The reservation lives in memory only and
// ends when any owner takes the address. Without a pod name it is Release.
func (s *Store) ReleaseKeptForPod(key rpc.Key, now time.Time) (Assignment, bool) {
	out, ok := s.Release(key, now)
	if ok && out.PodName != "" {
		pod := podOf(out.Owner)
		s.addrs[out.Address].keptFor = pod
		s.kept[pod] = out.Address
	}
	return out, ok
}

// Assigned is the number of live assignments.
func (s *Store) Assigned() int { return len(s.byKey) }

// Get returns key's assignment.
func (s *Store) Get(key rpc.Key) (Assignment, bool) {
	a, ok := s.byKey[key]
	if !ok {
		return Assignment{}, false
	}
	return s.assignment(a, s.addrs[a]), true
}

// List returns every assignment ordered by address.
func (s *Store) List() []Assignment {
	out := make([]Assignment, 0, len(s.byKey))
	for _, a := range s.byKey {
		out = append(out, s.assignment(a, s.addrs[a]))
	}
	slices.SortFunc(out, func(x, y Assignment) int { return x.Address.Compare(y.Address) })
	return out
}

// Cooldowns returns when each address still cooling down was freed, for the
// checkpoint: a restart must not shorten a cooldown.
func (s *Store) Cooldowns(now time.Time) map[netip.Addr]time.Time {
	out := map[netip.Addr]time.Time{}
	for a, sl := range s.addrs {
		if s.cooling(sl, now) {
			out[a] = sl.freedAt
		}
	}
	return out
}

// Restore binds checkpointed owners to addresses the store knows (PutENI
// first) and re-applies cooldowns. Assignments whose address is unknown, or
// already held by another key, are returned as rejected and not restored.
func (s *Store) Restore(as []Assignment, cooldowns map[netip.Addr]time.Time) (rejected []Assignment) {
	for _, as := range as {
		sl, ok := s.addrs[as.Address]
		switch {
		case !ok:
			rejected = append(rejected, as)
		case sl.owner != nil && sl.owner.Key != as.Key:
			rejected = append(rejected, as)
		default:
			if old, ok := s.byKey[as.Key]; ok && old != as.Address {
				rejected = append(rejected, as)
				continue
			}
			o := as.Owner
			sl.owner = &o
			s.byKey[as.Key] = as.Address
		}
	}
	for a, t := range cooldowns {
		if sl, ok := s.addrs[a]; ok && sl.owner == nil {
			sl.freedAt = t
		}
	}
	return rejected
}

// Forget drops key's assignment without a cooldown: the allocation never
// reached the pod (its checkpoint write failed), so the address was never used.
func (s *Store) Forget(key rpc.Key) {
	a, ok := s.byKey[key]
	if !ok {
		return
	}
	s.addrs[a].owner = nil
	delete(s.byKey, key)
}
