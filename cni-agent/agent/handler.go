package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eksnet/eksnet/cni-agent/checkpoint"
	"github.com/eksnet/eksnet/cni-agent/hostnet"
	"github.com/eksnet/eksnet/cni-agent/ipam"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

var _ rpc.Handler = (*Agent)(nil)

func (a *Agent) toRPC(as ipam.Assignment) rpc.Allocation {
	return rpc.Allocation{
		Key: as.Key, Address: as.Address, ENIID: as.ENIID, DeviceNumber: as.DeviceNumber,
		RouteTable: hostnet.TableFor(as.DeviceNumber), Unit: a.unitOf(as.Address), VPCCIDRs: a.vpcCIDRs, MTU: a.cfg.MTU,
		Netns: as.Netns, PodNamespace: as.PodNamespace, PodName: as.PodName,
	}
}

// Allocate answers from memory; the allocation is checkpointed before the
// answer leaves, and the warm pool is nudged to refill behind it.
func (a *Agent) Allocate(ctx context.Context, req rpc.AllocateRequest) (rpc.Allocation, error) {
	start := a.now()
	a.mu.Lock()
	_, existed := a.store.Get(req.Key)
	as, err := a.store.Assign(ipam.Owner{Key: req.Key, Netns: req.Netns, PodNamespace: req.PodNamespace, PodName: req.PodName}, start)
	if err == nil && !existed {
		if serr := a.recordLocked(func(w *checkpoint.Writer) error { return w.Assign(as) }); serr != nil {
			a.store.Forget(req.Key)
			err = fmt.Errorf("checkpointing the allocation of %s for %s: %w", as.Address, req.Key, serr)
		}
	}
	var empty *ipam.EmptyError
	if errors.As(err, &empty) {
		empty.Stuck, empty.LastFailure = a.whyStuckLocked(start), a.growFailure
	}
	a.mu.Unlock()
	a.kick()
	var full *ipam.FullError
	switch {
	case errors.As(err, &full):
		a.m.Allocation("full", a.now().Sub(start))
		return rpc.Allocation{}, rpc.Errorf(rpc.CodeNoAddresses, "no addresses: %v, max pods %d of which %d host-network", full, a.maxPods, a.hostNetworkPods)
	case errors.As(err, &empty):
		a.m.Allocation("empty", a.now().Sub(start))
		return rpc.Allocation{}, rpc.Errorf(rpc.CodeNoAddresses, "no addresses: %v", empty)
	case err != nil:
		a.m.Allocation("error", a.now().Sub(start))
		return rpc.Allocation{}, err
	}
	a.m.Allocation("ok", a.now().Sub(start))
	return a.toRPC(as), nil
}

// whyStuckLocked says why the warm pool cannot grow right now, or "" when
// it is growing: what the pool loop's next plan would decide.
func (a *Agent) whyStuckLocked(now time.Time) string {
	snap := a.store.Snapshot(now)
	act := ipam.Plan(snap, a.targets, a.limits)
	switch {
	case act.Grows() && now.Before(a.pausedUntil):
		return fmt.Sprintf("growth is paused for %s, the subnet is out of addresses", a.pausedUntil.Sub(now).Round(time.Second))
	case act.Grows():
		return ""
	case snap.Total >= snap.Capacity:
		return fmt.Sprintf("the pool holds %d addresses, all that max pods %d allows (%d host-network)", snap.Total, a.maxPods, a.hostNetworkPods)
	case act.Reason != "":
		return act.Reason
	}
	return fmt.Sprintf("EKSNET_MINIMUM_IP_TARGET=%d is reached and EKSNET_WARM_IP_TARGET=%d keeps no address free", a.targets.MinimumIP, a.targets.WarmIP)
}

// Release frees the key's address into cooldown; an unknown key is success.
func (a *Agent) Release(ctx context.Context, key rpc.Key) (*rpc.Allocation, error) {
	a.mu.Lock()
	now := a.now()
	as, ok := a.store.Release(key, now)
	var err error
	if ok {
		err = a.recordLocked(func(w *checkpoint.Writer) error { return w.Release(key, as.Address, now) })
	}
	a.mu.Unlock()
	if !ok {
		return nil, nil
	}
	a.kick()
	if err != nil {
		// The release stands in memory; the next change rewrites the file.
		// A restart before that would resurrect this allocation until CNI GC
		// removes it, which is safe (the address stays unused).
		return nil, fmt.Errorf("checkpointing the release of %s: %w", as.Address, err)
	}
	out := a.toRPC(as)
	return &out, nil
}

// Check returns the key's allocation.
func (a *Agent) Check(ctx context.Context, key rpc.Key) (rpc.Allocation, error) {
	a.mu.Lock()
	as, ok := a.store.Get(key)
	a.mu.Unlock()
	if !ok {
		return rpc.Allocation{}, rpc.Errorf(rpc.CodeNotFound, "no allocation for %s", key)
	}
	return a.toRPC(as), nil
}

// List returns every live allocation.
func (a *Agent) List(ctx context.Context) ([]rpc.Allocation, error) {
	a.mu.Lock()
	list := a.store.List()
	a.mu.Unlock()
	out := make([]rpc.Allocation, 0, len(list))
	for _, as := range list {
		out = append(out, a.toRPC(as))
	}
	return out, nil
}

// Status reports the pool per ENI, readiness and recent errors.
func (a *Agent) Status(ctx context.Context) (rpc.Status, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	snap := a.store.Snapshot(a.now())
	st := rpc.Status{
		Version: a.opts.Version, Mode: string(a.cfg.Mode), MaxPods: a.maxPods, Capacity: snap.Capacity,
		Total: snap.Total, Assigned: snap.Assigned, Cooldown: snap.Cooldown, Pending: snap.Pending, Free: snap.Free(),
		LastErrors:  append([]string(nil), a.lastErrors...),
		NetworkCard: 0, NetworkCards: a.networkCards,
	}
	if a.attachWaiting {
		st.AttachWaitingFor = a.cfg.AttachAfter
	}
	for _, e := range snap.ENIs {
		es := rpc.ENIStatus{ID: e.ID, DeviceNumber: e.DeviceNumber, Primary: e.Primary,
			Total: e.Total, Assigned: e.Assigned, Cooldown: e.Cooldown, Pending: e.Pending}
		for _, u := range e.Units {
			if u.Unit.Bits() != 32 {
				es.Prefixes = append(es.Prefixes, u.Unit)
			}
		}
		st.ENIs = append(st.ENIs, es)
	}
	// Ready once the pool holds addresses: a warm pool that is empty for a
	// moment (a burst, or everything cooling down) is not a node failure,
	// kubelet retries the ADD; reporting it through CNI STATUS would flip
	// the whole node NotReady.
	switch {
	case !a.serving:
		st.Reason = "starting"
	case snap.Total == 0:
		st.Reason = "no addresses yet; the warm pool is growing"
		if a.now().Before(a.pausedUntil) {
			st.Reason = "no addresses yet; growth paused: the subnet is out of addresses"
		}
	case snap.Total == snap.Pending:
		st.Reason = fmt.Sprintf("no addresses yet; %d assigned in EC2, waiting for IMDS to list them", snap.Pending)
	case snap.Assigned >= snap.Capacity:
		st.Ready, st.Reason = true, "node full"
	case snap.Free() == 0:
		st.Ready, st.Reason = true, "warm pool empty for now; refilling"
		if why := a.whyStuckLocked(a.now()); why != "" {
			st.Reason = "warm pool empty; no address can be added: " + why
		}
	default:
		st.Ready = true
	}
	return st, nil
}
