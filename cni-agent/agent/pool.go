package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/eksnet/eksnet/cni-agent/cloud"
	"github.com/eksnet/eksnet/cni-agent/hostnet"
	"github.com/eksnet/eksnet/cni-agent/ipam"
)

// Pacing of the warm pool. Failures back off exponentially with jitter from
// backoffBase to backoffMax on top of the SDK's own retries; running out of
// subnet addresses pauses growth from pauseBase up to pauseMax, since asking
// again soon cannot succeed and only burns API quota.
const (
	backoffBase = 250 * time.Millisecond
	backoffMax  = 10 * time.Second
	pauseBase   = 2 * time.Second
	pauseMax    = 2 * time.Minute
	// pollInterval re-plans without a nudge, so cooldowns that end lead to
	// shrinking and a paused pool resumes.
	pollInterval = time.Second
	// leakedMinAge protects an ENI another agent created moments ago and is
	// about to attach.
	leakedMinAge = 5 * time.Minute
	// gcEvery: leaked ENIs are collected on the first reconcile and then
	// every gcEvery-th (every 10 minutes with the default interval).
	gcEvery = 10
	// maxStepsPerWake bounds the warm-pool steps between two wake-ups.
	maxStepsPerWake = 32
)

// poolLoop is the only goroutine that changes EC2 state.
func (a *Agent) poolLoop(ctx context.Context) {
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	reconcile := time.NewTicker(a.cfg.ReconcileInterval)
	defer reconcile.Stop()
	failures, pauses, reconciles := 0, 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.nudge:
		case <-poll.C:
		case <-reconcile.C:
			if err := a.reconcile(ctx); err != nil {
				a.noteError("reconciling: %v", err)
				a.log.Warn("reconcile failed", "err", err)
				a.m.Backoff(reason(err), 0)
			}
			a.releaseGoneRecovered()
			// Leaked ENIs are rare and the describe costs account-wide
			// quota on every node, so collect on every gcEvery-th pass.
			if reconciles%gcEvery == 0 {
				if err := a.collectLeaked(ctx); err != nil {
					a.noteError("collecting leaked ENIs: %v", err)
					a.log.Warn("leaked-ENI collection failed", "err", err)
				}
			}
			reconciles++
		}
		a.fixDeleteOnTermination(ctx)
		a.resolveLimbo(ctx)
		// Each step changes the pool, so a plan repeats only if a step did
		// nothing; the bound keeps such a bug from spinning the CPU.
		for steps := 0; steps < maxStepsPerWake && ctx.Err() == nil; steps++ {
			act := a.plan()
			if act.Kind == ipam.None {
				break
			}
			a.mu.Lock()
			paused := act.Grows() && a.now().Before(a.pausedUntil)
			a.mu.Unlock()
			if paused || act.Kind == ipam.CreateENI && (!a.attachAllowed() || a.attachInDoubt()) {
				break
			}
			err := a.execute(ctx, act)
			if err == nil {
				if failures > 0 || pauses > 0 {
					a.log.Info("warm pool recovered")
				}
				failures, pauses = 0, 0
				a.mu.Lock()
				a.growFailure = ""
				a.mu.Unlock()
				a.m.BackoffCleared()
				continue
			}
			if ctx.Err() != nil {
				return
			}
			a.noteError("%s: %v", act.Kind, err)
			if act.Grows() {
				a.mu.Lock()
				a.growFailure = err.Error()
				a.mu.Unlock()
			}
			if cloud.IsOutOfAddresses(err) {
				d := min(pauseBase<<min(pauses, 10), pauseMax)
				pauses++
				a.mu.Lock()
				a.pausedUntil = a.now().Add(d)
				a.mu.Unlock()
				a.m.Backoff("out_of_addresses", d)
				a.log.Warn("subnet out of addresses, pausing growth", "err", err, "for", d)
				break
			}
			d := jitter(min(backoffBase<<min(failures, 10), backoffMax))
			failures++
			a.m.Backoff(reason(err), d)
			a.log.Warn("warm pool step failed, backing off", "action", act.Kind, "err", err, "in", d)
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
	}
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func reason(err error) string {
	switch {
	case cloud.IsThrottled(err):
		return "throttled"
	case cloud.IsServerError(err):
		return "server"
	case cloud.IsOutOfAddresses(err):
		return "out_of_addresses"
	}
	var imdsErr *imdsError
	if errors.As(err, &imdsErr) {
		return "imds"
	}
	return "other"
}

func (a *Agent) plan() ipam.Action {
	a.mu.Lock()
	defer a.mu.Unlock()
	snap := a.store.Snapshot(a.now())
	a.m.Pool(snap)
	return ipam.Plan(snap, a.targets, a.limits)
}

func (a *Agent) execute(ctx context.Context, act ipam.Action) error {
	a.log.Debug("warm pool step", "action", act.Kind, "eni", act.ENIID, "count", act.Count, "units", len(act.Units), "reason", act.Reason)
	switch act.Kind {
	case ipam.AssignUnits:
		return a.assign(ctx, act.ENIID, act.Count)
	case ipam.CreateENI:
		return a.createENI(ctx, act.Count)
	case ipam.ReleaseUnit:
		return a.release(ctx, act.ENIID, act.Units)
	case ipam.DeleteENI:
		return a.deleteENI(ctx, act.ENIID)
	}
	return fmt.Errorf("unknown warm-pool action %q", act.Kind)
}

func (a *Agent) assign(ctx context.Context, eniID string, n int) error {
	var units []netip.Prefix
	if a.targets.Prefix {
		ps, err := a.ec2.AssignPrefixes(ctx, eniID, n)
		if err != nil {
			return err
		}
		units = ps
	} else {
		ips, err := a.ec2.AssignIPs(ctx, eniID, n)
		if err != nil {
			return err
		}
		for _, ip := range ips {
			units = append(units, netip.PrefixFrom(ip, 32))
		}
	}
	a.mu.Lock()
	info, ok := a.enis[eniID]
	a.mu.Unlock()
	if !ok {
		return fmt.Errorf("adding addresses to ENI %s: the agent does not know it", eniID)
	}
	// Rules first: the units are allocatable once they are in the pool. On
	// failure they stay out of it until a reconcile adopts them.
	if err := a.addUnitRules(info.DeviceNumber, units); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.noteUnitsLocked(eniID, units, true)
	if err := a.store.AddUnits(eniID, units); err != nil {
		return err
	}
	a.log.Info("addresses added, pending until IMDS lists them", "eni", eniID, "units", len(units))
	return nil
}

func (a *Agent) createENI(ctx context.Context, n int) error {
	dev, ok := a.freeDevice()
	if !ok {
		return fmt.Errorf("creating an ENI: no free device index below %d", a.limits.MaxENIs)
	}
	spec := cloud.CreateSpec{
		SubnetID: a.primary.SubnetID, SecurityGroups: a.primary.SecurityGroups,
		Cluster: a.cfg.Cluster, InstanceID: a.instance.ID, Now: a.now(),
	}
	if a.targets.Prefix {
		spec.PrefixCount = n
	} else {
		spec.IPCount = n
	}
	eni, err := a.ec2.CreateENI(ctx, spec)
	if err != nil {
		return err
	}
	// Before the attach: networkd must find the file when the link appears.
	attachment := ""
	if err = a.markUnmanaged(eni.ID, eni.MAC); err == nil {
		attachment, err = a.ec2.AttachENI(ctx, eni.ID, a.instance.ID, dev)
	}
	if err != nil && attachment == "" && cloud.AttachOutcomeUnknown(err) {
		// It may be attached: never attach it again, and keep its device
		// index until EC2 says (resolveLimbo).
		a.mu.Lock()
		a.limbo[eni.ID] = &limboENI{eni: eni, device: dev, since: a.now()}
		a.mu.Unlock()
		a.log.Warn("attach outcome unknown; the ENI waits until EC2 shows where it is", "eni", eni.ID, "device", dev, "err", err)
		return err
	}
	if err != nil && attachment == "" {
		// Not attached: delete it now rather than leave it to collection.
		a.unmarkUnmanaged(eni.ID)
		if derr := a.ec2.DeleteENI(context.WithoutCancel(ctx), eni.ID); derr != nil {
			a.log.Warn("deleting an ENI that failed to attach; leaked-ENI collection will retry", "eni", eni.ID, "err", derr)
		}
		return err
	}
	if err != nil {
		// Attached and usable, but delete-on-termination is not set yet:
		// keep the ENI and let the pool loop retry the flag.
		a.noteError("ENI %s: %v", eni.ID, err)
		a.log.Warn("ENI attached without delete-on-termination, will retry", "eni", eni.ID, "err", err)
	}
	return a.adoptAttached(ctx, eni, dev, attachment, err != nil)
}

// adoptAttached sets up an ENI the agent attached and puts its addresses in
// the pool, pending until IMDS lists them; unusable on the host, the ENI is
// given back.
func (a *Agent) adoptAttached(ctx context.Context, eni cloud.ENI, dev int, attachment string, needsDoT bool) error {
	e := attached{
		info: eniInfo{ID: eni.ID, MAC: eni.MAC, DeviceNumber: dev, AttachmentID: attachment, PrimaryIP: eni.PrimaryIP,
			NeedsDeleteOnTermination: needsDoT},
		ips: eni.IPs, prefixes: eni.Prefixes,
	}
	a.mu.Lock()
	a.noteENILocked(eni.ID, true)
	a.noteUnitsLocked(eni.ID, a.unitsOf(e), true)
	a.mu.Unlock()
	if err := a.adopt(ctx, e); err != nil {
		// Unusable on the host: give it back.
		a.log.Error("new ENI unusable on the host, detaching it", "eni", eni.ID, "err", err)
		a.dropENI(context.WithoutCancel(ctx), e.info)
		return err
	}
	return nil
}

func (a *Agent) release(ctx context.Context, eniID string, units []netip.Prefix) error {
	a.mu.Lock()
	taken := a.store.TakeFreeUnits(eniID, units, a.now())
	a.mu.Unlock()
	if len(taken) == 0 {
		return nil
	}
	if err := a.ec2.Unassign(ctx, eniID, taken); err != nil {
		a.mu.Lock()
		_ = a.store.AddUnits(eniID, taken)
		// They were confirmed before; EC2 still assigns them.
		a.store.Confirm(eniID, taken)
		a.mu.Unlock()
		return err
	}
	a.mu.Lock()
	a.noteUnitsLocked(eniID, taken, false)
	a.mu.Unlock()
	a.log.Info("surplus addresses returned", "eni", eniID, "units", len(taken))
	a.syncUnitRules()
	return nil
}

func (a *Agent) deleteENI(ctx context.Context, eniID string) error {
	a.mu.Lock()
	snap := a.store.Snapshot(a.now())
	idle := false
	for _, e := range snap.ENIs {
		if e.ID == eniID && !e.Primary && e.Assigned == 0 && e.Cooldown == 0 {
			idle = true
		}
	}
	info, known := a.enis[eniID]
	if !idle || !known {
		a.mu.Unlock()
		return nil
	}
	if info.AttachmentID == "" {
		a.syncFromEC2 = true
		a.mu.Unlock()
		return fmt.Errorf("returning ENI %s: its attachment ID is unknown until EC2 answers a describe", eniID)
	}
	a.store.RemoveENI(eniID)
	delete(a.enis, eniID)
	a.mu.Unlock()
	a.log.Info("returning idle ENI", "eni", eniID, "device", info.DeviceNumber)
	return a.dropENI(ctx, *info)
}

// dropENI tears down the host side, detaches and deletes an ENI. A delete
// that fails because the detach is still in progress is retried briefly;
// after that the leaked-ENI collection finishes the job.
func (a *Agent) dropENI(ctx context.Context, info eniInfo) error {
	if err := hostnet.TeardownENI(a.hostENI(info)); err != nil {
		a.log.Warn("tearing down ENI on the host", "eni", info.ID, "err", err)
	}
	a.unmarkUnmanaged(info.ID)
	a.mu.Lock()
	delete(a.enis, info.ID)
	a.store.RemoveENI(info.ID)
	a.noteENILocked(info.ID, false)
	a.mu.Unlock()
	a.syncUnitRules()
	if info.AttachmentID != "" {
		if err := a.ec2.DetachENI(ctx, info.AttachmentID); err != nil {
			return err
		}
	}
	var err error
	for i := range 5 {
		if err = a.ec2.DeleteENI(ctx, info.ID); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(i+1) * 500 * time.Millisecond):
		}
	}
	a.log.Warn("ENI detached but not deleted yet; leaked-ENI collection will delete it", "eni", info.ID, "err", err)
	return nil
}

// fixDeleteOnTermination retries the flag on attachments that lack it.
func (a *Agent) fixDeleteOnTermination(ctx context.Context) {
	a.mu.Lock()
	var todo []eniInfo
	for _, e := range a.enis {
		if e.NeedsDeleteOnTermination && e.AttachmentID != "" {
			todo = append(todo, *e)
		}
	}
	a.mu.Unlock()
	for _, e := range todo {
		if err := a.ec2.SetDeleteOnTermination(ctx, e.ID, e.AttachmentID); err != nil {
			a.log.Warn("delete-on-termination still not set", "eni", e.ID, "err", err)
			continue
		}
		a.mu.Lock()
		if cur, ok := a.enis[e.ID]; ok {
			cur.NeedsDeleteOnTermination = false
		}
		a.mu.Unlock()
		a.log.Info("delete-on-termination set", "eni", e.ID)
	}
}
