package agent

import (
	"fmt"
	"net/netip"

	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/hostnet"
)

// The agent owns the pods' policy rules, one pair per pool unit
// (datapath.Unit): a unit's rules are added before its addresses can be
// allocated (adopt, assign), and the kernel is brought back to exactly the
// pool's units after units leave it (release, dropping an ENI, reconcile)
// and at start, which also clears per-pod rules of earlier plugin versions.

// unitOf is the pool unit holding addr: its /28 in prefix mode, addr/32 in
// secondary mode.
func (a *Agent) unitOf(addr netip.Addr) netip.Prefix {
	if a.targets.Prefix {
		return netip.PrefixFrom(addr, 28).Masked()
	}
	return netip.PrefixFrom(addr, 32)
}

// unitsOn renders units of the ENI with device number device.
func unitsOn(device int, units []netip.Prefix) []datapath.Unit {
	out := make([]datapath.Unit, 0, len(units))
	for _, u := range units {
		out = append(out, datapath.Unit{Prefix: u.Masked(), Table: hostnet.TableFor(device)})
	}
	return out
}

// addUnitRules adds the rules of units about to enter the pool on the ENI
// with device number device.
func (a *Agent) addUnitRules(device int, units []netip.Prefix) error {
	if err := datapath.AddUnitRules(unitsOn(device, units)); err != nil {
		return fmt.Errorf("adding the policy rules of %d address unit(s): %w", len(units), err)
	}
	return nil
}

// syncUnitRules makes the kernel's pod rules those of the pool's units.
// Extra rules route nothing (their addresses have no route), so a failure
// is reported, not fatal; the next sync retries.
func (a *Agent) syncUnitRules() {
	a.mu.Lock()
	var units []datapath.Unit
	for _, e := range a.store.Snapshot(a.now()).ENIs {
		for _, u := range e.Units {
			units = append(units, datapath.Unit{Prefix: u.Unit.Masked(), Table: hostnet.TableFor(e.DeviceNumber)})
		}
	}
	a.mu.Unlock()
	added, deleted, err := datapath.SyncUnitRules(units)
	if err != nil {
		a.noteError("syncing the pods' policy rules with the pool: %v", err)
		a.log.Error("syncing the pods' policy rules with the pool", "err", err)
	}
	if added > 0 || deleted > 0 {
		a.log.Info("pod policy rules synced with the pool", "units", len(units), "added", added, "deleted", deleted)
	}
}
