package fakeec2

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The lifecycle of instances and ENIs as EC2 runs it, which is what a
// destroy meets when the node agent left ENIs behind:
//
//   - DetachNetworkInterface answers at once; the ENI shows "detaching"
//     (attachment status "detaching") for the detach delay, then "available".
//     It cannot be deleted or attached elsewhere until then.
//   - A stopped instance keeps its ENIs attached ("in-use"): only
//     termination releases them.
//   - Terminating an instance deletes every ENI whose attachment is
//     delete-on-termination (the primary as launched, and the agent's once
//     it set the flag) and detaches the others, which then stay "available"
//     in their subnet. The instance stays visible as terminated.
//   - An impaired instance (a failed host) holds up every detach that is not
//     forced, and its termination releases none of its secondary ENIs: they
//     stay attached to the terminated instance until DetachNetworkInterface
//     with Force, the "last resort ... from a failed instance" of EC2's API
//     reference.
//   - DeleteSubnet refuses with DependencyViolation while any ENI, in any
//     state, is in the subnet.

// Instance state names, as DescribeInstances reports them.
const (
	InstanceRunning    = "running"
	InstanceStopped    = "stopped"
	InstanceTerminated = "terminated"
)

// instanceStateCode is EC2's InstanceState.Code for a state name.
func instanceStateCode(name string) int {
	switch name {
	case "pending":
		return 0
	case InstanceRunning:
		return 16
	case "shutting-down":
		return 32
	case InstanceTerminated:
		return 48
	case "stopping":
		return 64
	case InstanceStopped:
		return 80
	}
	return -1
}

// SetDetachDelay changes how long a detach takes from now on.
func (c *Cloud) SetDetachDelay(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.detachDelay = max(d, 0)
}

// StopInstance stops a running instance. Its ENIs stay attached and in use.
func (c *Cloud) StopInstance(id string) error {
	c.mu.Lock()
	inst, err := c.instanceLocked(id)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if inst.state == InstanceTerminated {
		c.mu.Unlock()
		return fmt.Errorf("instance %q: terminated, it cannot be stopped", id)
	}
	inst.state = InstanceStopped
	c.unlockChanged()
	return nil
}

// ImpairInstance makes the instance's host fail: from now on a detach from
// it that is not forced never completes, and terminating it leaves its
// secondary ENIs attached (see the lifecycle above).
func (c *Cloud) ImpairInstance(id string) error {
	c.mu.Lock()
	inst, err := c.instanceLocked(id)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	inst.impaired = true
	c.unlockChanged()
	return nil
}

// TerminateInstance terminates the instance as EC2 does (see the lifecycle
// above); terminating a terminated instance changes nothing.
func (c *Cloud) TerminateInstance(ctx context.Context, id string) error {
	c.mu.Lock()
	inst, err := c.instanceLocked(id)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if inst.state == InstanceTerminated {
		c.mu.Unlock()
		return nil
	}
	inst.state = InstanceTerminated
	var errs []error
	for _, eid := range slices.Clone(c.order) {
		e := c.enis[eid]
		if e == nil || e.att == nil || e.att.instanceID != inst.id {
			continue
		}
		switch {
		case e.att.deviceIndex == 0:
			// The primary's kernel side is the node's own, not the fabric's.
			dot := e.att.deleteOnTermination
			e.att = nil
			if dot {
				c.deleteLocked(e)
			}
		case inst.impaired:
			// Stuck on the terminated instance until a forced detach.
		case e.att.deleteOnTermination:
			errs = append(errs, c.detachLocked(ctx, e))
			c.deleteLocked(e)
		default:
			errs = append(errs, c.beginDetachLocked(ctx, e, true))
		}
	}
	c.mu.Unlock()
	c.changed()
	return errors.Join(errs...)
}

// beginDetachLocked starts detaching e: the kernel side goes at once, the
// attachment stays (detaching) for the detach delay, or until a forced
// detach when the instance is impaired and force is false.
func (c *Cloud) beginDetachLocked(ctx context.Context, e *eni, force bool) error {
	att := e.att
	err := c.unplugLocked(ctx, e)
	att.detaching = true
	if inst := c.instances[att.instanceID]; inst != nil && inst.impaired && !force {
		return err
	}
	if att.completing {
		return err
	}
	att.completing = true
	if c.detachDelay <= 0 {
		e.att = nil
		return err
	}
	time.AfterFunc(c.detachDelay, func() {
		c.mu.Lock()
		if e.att != att {
			c.mu.Unlock()
			return
		}
		e.att = nil
		c.unlockChanged()
	})
	return err
}

// DeleteSubnet: SubnetId. Refused with DependencyViolation while any ENI
// is in the subnet, as EC2 does (available ENIs count too).
func (c *Cloud) deleteSubnet(_ context.Context, p params) (any, error) {
	id, err := p.require("SubnetId")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.unlockChanged()
	i := slices.IndexFunc(c.subnets, func(s *subnet) bool { return s.id == id })
	if i < 0 {
		return nil, apiErr("InvalidSubnetID.NotFound", "the subnet ID '%s' does not exist", id)
	}
	for _, eid := range c.order {
		if c.enis[eid].subnetID == id {
			return nil, apiErr("DependencyViolation", "The subnet '%s' has dependencies and cannot be deleted.", id)
		}
	}
	c.subnets = slices.Delete(c.subnets, i, i+1)
	return struct {
		Return bool `xml:"return"`
	}{true}, nil
}

// RebootInstance is what a reboot does to EC2's side of an instance:
// nothing. The instance keeps running, every ENI stays attached with its
// addresses and prefixes, and no call is recorded. Only the host's kernel
// starts afresh, so the Fabric is asked to plug every attached secondary
// ENI again (AttachENI, in device order; the primary ENI is the caller's,
// as at launch), which the caller does once it rebuilt the instance's
// namespace. A stopped or terminated instance cannot be rebooted, and an
// ENI already detaching stays unplugged.
func (c *Cloud) RebootInstance(ctx context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst, err := c.instanceLocked(id)
	if err != nil {
		return err
	}
	if inst.state != InstanceRunning {
		return fmt.Errorf("instance %q: %s, only a running instance can be rebooted", id, inst.state)
	}
	var plugged []*eni
	for _, eid := range c.order {
		e := c.enis[eid]
		if e.att != nil && e.att.instanceID == id && e.att.deviceIndex > 0 && e.plugged() && !e.att.detaching {
			plugged = append(plugged, e)
		}
	}
	slices.SortFunc(plugged, func(a, b *eni) int { return a.att.deviceIndex - b.att.deviceIndex })
	if c.cfg.Fabric == nil {
		return nil
	}
	var errs []error
	for _, e := range plugged {
		if err := c.cfg.Fabric.AttachENI(ctx, c.refLocked(e)); err != nil {
			errs = append(errs, fmt.Errorf("replugging %s into rebooted instance %s: %w", e.id, id, err))
		}
	}
	return errors.Join(errs...)
}
