package agent

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/eksnet/eksnet/cni-agent/cloud"
)

// imdsError marks a failure to read IMDS, for the backoff reason label.
type imdsError struct{ err error }

func (e *imdsError) Error() string { return e.err.Error() }
func (e *imdsError) Unwrap() error { return e.err }

// reconcile compares the pool with IMDS, which costs no EC2 quota, and only
// when they differ asks EC2 (authoritative, but eventually consistent) and
// adopts its view: ENIs attached or detached behind the agent's back,
// addresses added or removed by someone else. Both views may lag behind the
// agent's own changes of the last settleWindow, so both are corrected for
// them first.
func (a *Agent) reconcile(ctx context.Context) error {
	ifaces, err := a.meta.Interfaces(ctx)
	if err != nil {
		return &imdsError{err}
	}
	a.mu.Lock()
	snap := a.store.Snapshot(a.now())
	force := a.syncFromEC2
	a.mu.Unlock()
	have := map[string][]netip.Prefix{}
	for _, e := range snap.ENIs {
		have[e.ID] = []netip.Prefix{} // an ENI without units is in the pool too
		for _, u := range e.Units {
			have[e.ID] = append(have[e.ID], u.Unit)
		}
	}
	differs := false
	seen := 0
	imdsView := a.corrected(fromIMDS(ifaces))
	for _, e := range imdsView {
		units, ok := have[e.info.ID]
		if !ok || !sameUnits(units, a.unitsOf(e)) {
			differs = true
			break
		}
		seen++
	}
	if !differs && seen == len(have) && !force {
		return nil
	}
	list, err := a.describeAttached(ctx)
	if err != nil {
		return err
	}
	list = a.corrected(withIMDS(list, imdsView, have))
	a.mu.Lock()
	a.syncFromEC2 = false
	a.mu.Unlock()
	a.log.Info("pool differs from IMDS, adopting EC2's view")
	present := map[string]bool{}
	for _, e := range list {
		present[e.info.ID] = true
		if err := a.adopt(ctx, e); err != nil {
			return err
		}
	}
	a.mu.Lock()
	var gone []eniInfo
	for id, info := range a.enis {
		if !present[id] {
			gone = append(gone, *info)
		}
	}
	a.mu.Unlock()
	for _, info := range gone {
		a.mu.Lock()
		dropped := a.store.RemoveENI(info.ID)
		delete(a.enis, info.ID)
		for _, d := range dropped {
			a.noteErrorLocked("ENI %s detached behind the agent's back; allocation %s -> %s dropped", info.ID, d.Key, d.Address)
		}
		a.mu.Unlock()
		a.log.Warn("ENI gone from the instance", "eni", info.ID, "dropped", len(dropped))
		a.unmarkUnmanaged(info.ID)
	}
	// adopt added the rules of new units; the rules of units that left go.
	a.syncUnitRules()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.saveLocked()
}

func (a *Agent) unitsOf(e attached) []netip.Prefix {
	var out []netip.Prefix
	if a.targets.Prefix {
		for _, p := range e.prefixes {
			out = append(out, p.Masked())
		}
		return out
	}
	for _, ip := range e.ips {
		out = append(out, netip.PrefixFrom(ip, 32))
	}
	return out
}

func sameUnits(x, y []netip.Prefix) bool {
	if len(x) != len(y) {
		return false
	}
	cmp := func(p, q netip.Prefix) int { return p.Addr().Compare(q.Addr()) }
	x, y = slices.Clone(x), slices.Clone(y)
	slices.SortFunc(x, cmp)
	slices.SortFunc(y, cmp)
	return slices.Equal(x, y)
}

// collectLeaked deletes detached ENIs carrying this cluster's tag: this
// instance's at once (the pool loop is the only creator here, so none is in
// flight), other instances' once older than leakedMinAge.
func (a *Agent) collectLeaked(ctx context.Context) error {
	list, err := a.ec2.LeakedENIs(ctx, a.cfg.Cluster)
	if err != nil {
		return err
	}
	for _, e := range list {
		if a.inFlight(e.ID) {
			// Describe lags: an ENI whose attach is in doubt or was made
			// moments ago can still show as available.
			continue
		}
		own := e.Tags[cloud.TagInstanceID] == a.instance.ID
		created, perr := time.Parse(time.RFC3339, e.Tags[cloud.TagCreatedAt])
		old := perr == nil && a.now().Sub(created) >= leakedMinAge
		if !own && !old {
			continue
		}
		if err := a.ec2.DeleteENI(ctx, e.ID); err != nil {
			return err
		}
		a.log.Info("deleted leaked ENI", "eni", e.ID, "createdBy", e.Tags[cloud.TagInstanceID], "createdAt", e.Tags[cloud.TagCreatedAt])
	}
	return nil
}
