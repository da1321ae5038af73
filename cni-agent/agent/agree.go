package agent

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/eksnet/eksnet/cni-agent/cloud"
)

// How the agent lives with AWS's lagging read paths. EC2 answers a mutating
// call at once, but IMDS shows the change seconds later, and Describe calls
// are eventually consistent
// (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html).
// So:
//   - a unit (secondary IP or prefix) enters the pool pending and is handed
//     out only once IMDS lists it on its ENI, and an ENI's units only once
//     IMDS lists the ENI at its device number (settle); the kernel side (the
//     ENI's link, routes and rules, the unit's rules) is set up before the
//     unit enters the pool at all;
//   - for settleWindow after the agent changed something, a view from IMDS or
//     Describe that still shows the old state is taken for lag, not for a
//     change behind the agent's back (corrected), so the reconcile neither
//     re-adopts a released address nor drops a fresh one, and never sets up
//     a returned ENI again;
//   - an attach whose outcome is unknown is never sent again: the ENI waits
//     in limbo, its device index reserved, until Describe says where it is.
const (
	// settleInterval is how often pending units are looked up in IMDS
	// (local, no API quota: one read per ENI with pending units).
	settleInterval = 200 * time.Millisecond
	// settleWindow is how long a view may lag behind the agent's own
	// changes; AWS's IMDS and Describe lag by seconds. The AWS VPC CNI
	// keeps its reconcile off fresh addresses for a minute, as this does.
	settleWindow = time.Minute
	// limboSettle is how long an ENI whose attach outcome is unknown must
	// show as detached in Describe before the agent believes it and deletes
	// it: Describe may lag behind the attach.
	limboSettle = 30 * time.Second
)

// change is one of the agent's own changes to EC2 state, for settleWindow.
type change struct {
	eni   string
	added bool
	at    time.Time
}

// limboENI is a created ENI whose attach may or may not have taken effect.
type limboENI struct {
	eni    cloud.ENI
	device int
	since  time.Time
	// detachedSince is when Describe first showed it available.
	detachedSince time.Time
}

// noteUnitsLocked records units the agent assigned (added) or unassigned.
func (a *Agent) noteUnitsLocked(eniID string, units []netip.Prefix, added bool) {
	now := a.now()
	for _, u := range units {
		a.recentUnits[u.Masked()] = change{eni: eniID, added: added, at: now}
	}
}

// noteENILocked records an ENI the agent attached (added) or detached.
func (a *Agent) noteENILocked(eniID string, added bool) {
	a.recentENIs[eniID] = change{eni: eniID, added: added, at: a.now()}
}

// expireLocked forgets changes older than settleWindow.
func (a *Agent) expireLocked() {
	cut := a.now().Add(-settleWindow)
	for u, c := range a.recentUnits {
		if c.at.Before(cut) {
			delete(a.recentUnits, u)
		}
	}
	for id, c := range a.recentENIs {
		if c.at.Before(cut) {
			delete(a.recentENIs, id)
		}
	}
}

// corrected returns a lagging view (IMDS or Describe) of the attached ENIs
// with the agent's recent changes applied: ENIs it returned and units it
// released are left out (for settleWindow: either view may still show
// them), and ENIs it attached and units it assigned are kept while IMDS has
// not listed them yet (pending). Once IMDS lists a new unit, its absence
// from a later view is a real change, made behind the agent's back.
func (a *Agent) corrected(view []attached) []attached {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expireLocked()
	pending := map[netip.Prefix]bool{}
	for _, units := range a.store.Pending() {
		for _, u := range units {
			pending[u] = true
		}
	}
	out := make([]attached, 0, len(view))
	seen := map[string]bool{}
	for _, e := range view {
		if c, ok := a.recentENIs[e.info.ID]; ok && !c.added {
			continue
		}
		seen[e.info.ID] = true
		e.ips, e.prefixes = a.correctUnitsLocked(e.info.ID, e.ips, e.prefixes, pending)
		out = append(out, e)
	}
	for id, c := range a.recentENIs {
		info, known := a.enis[id]
		if !c.added || seen[id] || !known || info.InIMDS {
			continue
		}
		e := attached{info: *info}
		e.ips, e.prefixes = a.correctUnitsLocked(id, nil, nil, pending)
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y attached) int { return x.info.DeviceNumber - y.info.DeviceNumber })
	return out
}

func (a *Agent) correctUnitsLocked(eniID string, ips []netip.Addr, prefixes []netip.Prefix, pending map[netip.Prefix]bool) ([]netip.Addr, []netip.Prefix) {
	have := map[netip.Prefix]bool{}
	released := func(u netip.Prefix) bool {
		c, ok := a.recentUnits[u]
		return ok && !c.added && c.eni == eniID
	}
	var outIPs []netip.Addr
	var outPfx []netip.Prefix
	for _, ip := range ips {
		if u := netip.PrefixFrom(ip, 32); !released(u) {
			have[u] = true
			outIPs = append(outIPs, ip)
		}
	}
	for _, p := range prefixes {
		if !released(p.Masked()) {
			have[p.Masked()] = true
			outPfx = append(outPfx, p)
		}
	}
	for u, c := range a.recentUnits {
		if !c.added || c.eni != eniID || have[u] || !pending[u] {
			continue
		}
		if u.Bits() == 32 {
			outIPs = append(outIPs, u.Addr())
		} else {
			outPfx = append(outPfx, u)
		}
	}
	return outIPs, outPfx
}

// withIMDS adds to EC2's view the pool units IMDS still lists on the same
// ENI: Describe may lag behind an assignment IMDS already shows, and a unit
// is dropped only once neither lists it.
func withIMDS(list, imdsView []attached, pool map[string][]netip.Prefix) []attached {
	listed := map[string]map[netip.Prefix]bool{}
	for _, e := range imdsView {
		m := map[netip.Prefix]bool{}
		for _, ip := range e.ips {
			m[netip.PrefixFrom(ip, 32)] = true
		}
		for _, p := range e.prefixes {
			m[p.Masked()] = true
		}
		listed[e.info.ID] = m
	}
	for i, e := range list {
		inEC2 := map[netip.Prefix]bool{}
		for _, ip := range e.ips {
			inEC2[netip.PrefixFrom(ip, 32)] = true
		}
		for _, p := range e.prefixes {
			inEC2[p.Masked()] = true
		}
		for _, u := range pool[e.info.ID] {
			if inEC2[u] || !listed[e.info.ID][u] {
				continue
			}
			if u.Bits() == 32 {
				list[i].ips = append(list[i].ips, u.Addr())
			} else {
				list[i].prefixes = append(list[i].prefixes, u)
			}
		}
	}
	return list
}

// settleLoop confirms pending units as IMDS lists them.
func (a *Agent) settleLoop(ctx context.Context) {
	t := time.NewTicker(settleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.settle(ctx)
	}
}

// settle confirms the pending units IMDS lists on their ENI, once IMDS lists
// the ENI itself at the device number the agent attached it at. It reads
// only what it waits for: the MAC list once, then per waiting ENI its
// device number (until seen) and its addresses or prefixes.
func (a *Agent) settle(ctx context.Context) {
	a.mu.Lock()
	var todo []eniInfo
	for id := range a.store.Pending() {
		if info, ok := a.enis[id]; ok {
			todo = append(todo, *info)
		}
	}
	a.mu.Unlock()
	var macs map[string]bool
	for _, info := range todo {
		if !info.InIMDS {
			if macs == nil {
				list, err := a.meta.MACs(ctx)
				if err != nil {
					a.log.Debug("IMDS unavailable while addresses wait for it", "err", err)
					return
				}
				macs = map[string]bool{}
				for _, m := range list {
					macs[m] = true
				}
			}
			if !macs[info.MAC] {
				continue
			}
			dev, err := a.meta.DeviceNumber(ctx, info.MAC)
			if err != nil {
				continue
			}
			if dev != info.DeviceNumber {
				a.log.Warn("IMDS lists the ENI at another device number; its addresses stay unused", "eni", info.ID, "imds", dev, "attached", info.DeviceNumber)
				continue
			}
			a.mu.Lock()
			if cur, ok := a.enis[info.ID]; ok {
				cur.InIMDS = true
			}
			a.mu.Unlock()
		}
		var seen []netip.Prefix
		if a.targets.Prefix {
			ps, err := a.meta.IPv4Prefixes(ctx, info.MAC)
			if err != nil {
				continue
			}
			seen = ps
		} else {
			_, ips, err := a.meta.LocalIPv4s(ctx, info.MAC)
			if err != nil {
				continue
			}
			for _, ip := range ips {
				seen = append(seen, netip.PrefixFrom(ip, 32))
			}
		}
		a.mu.Lock()
		n := a.store.Confirm(info.ID, seen)
		if n > 0 {
			a.m.Pool(a.store.Snapshot(a.now()))
		}
		a.mu.Unlock()
		if n > 0 {
			a.log.Info("addresses confirmed by IMDS", "eni", info.ID, "units", n)
			a.kick()
		}
	}
}

// attachInDoubt says an ENI waits in limbo: no other ENI is created until
// EC2 says where it is, since it may well be the ENI the pool wants.
func (a *Agent) attachInDoubt() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.limbo) > 0
}

// inFlight says an ENI waits in limbo or was attached by the agent within
// settleWindow: leaked-ENI collection must not take it for a leaked one.
func (a *Agent) inFlight(eniID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, inLimbo := a.limbo[eniID]
	c, recent := a.recentENIs[eniID]
	return inLimbo || recent && c.added
}

// reservedDevicesLocked are the device indexes of ENIs in limbo.
func (a *Agent) reservedDevicesLocked() map[int]bool {
	out := map[int]bool{}
	for _, l := range a.limbo {
		out[l.device] = true
	}
	return out
}

// resolveLimbo asks EC2 where each ENI in limbo is: attached here, it is
// set up and adopted as if the attach had answered; shown detached for
// limboSettle, it is deleted; not found yet (a lagging Describe), it waits.
func (a *Agent) resolveLimbo(ctx context.Context) {
	a.mu.Lock()
	todo := make([]*limboENI, 0, len(a.limbo))
	for _, l := range a.limbo {
		todo = append(todo, l)
	}
	a.mu.Unlock()
	for _, l := range todo {
		e, err := a.ec2.ENIByID(ctx, l.eni.ID)
		if err != nil {
			if !cloud.IsNotFound(err) {
				a.log.Warn("ENI whose attach is in doubt: describe failed, will retry", "eni", l.eni.ID, "err", err)
			}
			continue
		}
		switch {
		case e.InstanceID == a.instance.ID && e.AttachmentID != "":
			a.mu.Lock()
			delete(a.limbo, l.eni.ID)
			a.mu.Unlock()
			a.log.Info("the attach whose answer was lost took effect; adopting the ENI", "eni", e.ID, "device", e.DeviceIndex)
			if err := a.adoptAttached(ctx, e, e.DeviceIndex, e.AttachmentID, !e.DeleteOnTermination); err != nil {
				a.noteError("ENI %s: %v", e.ID, err)
			}
		case e.AttachmentID == "" && e.Status == "available":
			if l.detachedSince.IsZero() {
				l.detachedSince = a.now()
			}
			if a.now().Sub(l.detachedSince) < limboSettle {
				continue
			}
			a.mu.Lock()
			delete(a.limbo, l.eni.ID)
			a.mu.Unlock()
			a.unmarkUnmanaged(e.ID)
			a.log.Info("the attach in doubt did not take effect; deleting the ENI", "eni", e.ID)
			if err := a.ec2.DeleteENI(ctx, e.ID); err != nil {
				a.log.Warn("deleting an ENI that never attached; leaked-ENI collection will retry", "eni", e.ID, "err", err)
			}
		default:
			l.detachedSince = time.Time{}
		}
	}
}
