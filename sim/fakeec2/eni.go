package fakeec2

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

func (c *Cloud) eniLocked(id string) (*eni, error) {
	e, ok := c.enis[id]
	if !ok {
		return nil, apiErr("InvalidNetworkInterfaceID.NotFound", "the networkInterface ID '%s' does not exist", id)
	}
	return e, nil
}

// instanceLocked returns the instance id, or EC2's InvalidInstanceID.NotFound;
// the caller holds c.mu. The API (AttachNetworkInterface) and the lifecycle
// methods tests and the simulation call (Stop, Impair, Terminate) share it.
func (c *Cloud) instanceLocked(id string) (*instance, error) {
	inst, ok := c.instances[id]
	if !ok {
		return nil, apiErr("InvalidInstanceID.NotFound", "the instance ID '%s' does not exist", id)
	}
	return inst, nil
}

// CreateNetworkInterface: SubnetId, Description, SecurityGroupId.N,
// PrivateIpAddress, SecondaryPrivateIpAddressCount, Ipv4PrefixCount,
// Ipv4Prefix.N, TagSpecification.N.
func (c *Cloud) createNetworkInterface(_ context.Context, p params) (any, error) {
	subnetID, err := p.require("SubnetId")
	if err != nil {
		return nil, err
	}
	count, hasCount, err := p.integer("SecondaryPrivateIpAddressCount")
	if err != nil {
		return nil, err
	}
	pfxCount, hasPfxCount, err := p.integer("Ipv4PrefixCount")
	if err != nil {
		return nil, err
	}
	if (hasCount && count < 1) || (hasPfxCount && pfxCount < 1) {
		return nil, apiErr("InvalidParameterValue", "SecondaryPrivateIpAddressCount and Ipv4PrefixCount must be at least 1")
	}
	if hasCount && hasPfxCount {
		return nil, apiErr("InvalidParameterCombination", "SecondaryPrivateIpAddressCount and Ipv4PrefixCount cannot be combined")
	}
	tags := map[string]string{}
	for _, n := range p.indexes("TagSpecification") {
		rt := p.str("TagSpecification." + strconv.Itoa(n) + ".ResourceType")
		if rt != "network-interface" {
			return nil, apiErr("InvalidParameterValue", "TagSpecification.%d.ResourceType %q: must be network-interface", n, rt)
		}
		t, err := p.tags("TagSpecification." + strconv.Itoa(n) + ".Tag")
		if err != nil {
			return nil, err
		}
		for k, v := range t {
			tags[k] = v
		}
	}
	sgs := p.list("SecurityGroupId")
	c.mu.Lock()
	defer c.unlockChanged()
	sn := c.subnetByID(subnetID)
	if sn == nil {
		return nil, apiErr("InvalidSubnetID.NotFound", "the subnet ID '%s' does not exist", subnetID)
	}
	for _, g := range sgs {
		if g != c.sgID {
			return nil, apiErr("InvalidGroup.NotFound", "the security group '%s' does not exist", g)
		}
	}
	if len(sgs) == 0 {
		sgs = []string{c.sgID}
	}
	e := &eni{id: newID("eni"), subnetID: sn.id, description: p.str("Description"), mac: c.nextMAC(),
		tags: tags, sgs: sgs, sourceDestCheck: true}
	if ip := p.str("PrivateIpAddress"); ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, apiErr("InvalidParameterValue", "PrivateIpAddress %q: not an IPv4 address", ip)
		}
		if err := sn.pool.takeAddr(e.id, a); err != nil {
			return nil, apiErr("InvalidParameterValue", "PrivateIpAddress: %v", err)
		}
		e.primary = a
	} else {
		if sn.pool.free() < 1 {
			return nil, apiErr("InsufficientFreeAddressesInSubnet", "subnet %s has no free addresses", sn.id)
		}
		a, _ := sn.pool.takeAddrs(e.id, 1)
		e.primary = a[0]
	}
	undo := func() { sn.pool.release(e.primary) }
	if hasCount {
		addrs, ok := sn.pool.takeAddrs(e.id, count)
		if !ok {
			undo()
			return nil, apiErr("InsufficientFreeAddressesInSubnet", "subnet %s has %d free addresses, %d asked", sn.id, sn.pool.free(), count+1)
		}
		e.secondary = addrs
	}
	pfxs := p.list("Ipv4Prefix")
	if hasPfxCount || len(pfxs) > 0 {
		got, err := c.takePrefixesLocked(sn, e.id, pfxCount, pfxs)
		if err != nil {
			undo()
			return nil, err
		}
		e.prefixes = got
	}
	c.enis[e.id] = e
	c.order = append(c.order, e.id)
	return struct {
		ENI         xENI   `xml:"networkInterface"`
		ClientToken string `xml:"clientToken,omitempty"`
	}{toXENI(c.eniStateLocked(e), c.vpcID), p.str("ClientToken")}, nil
}

// unlockChanged releases the lock and reports a change.
func (c *Cloud) unlockChanged() {
	c.mu.Unlock()
	c.changed()
}

// takePrefixesLocked reserves count /28s or the named ones, honoring the
// forced InsufficientCidrBlocks fault.
func (c *Cloud) takePrefixesLocked(sn *subnet, owner string, count int, named []string) ([]netip.Prefix, error) {
	if c.cfg.Faults.ForceInsufficientCidrBlocks() {
		return nil, apiErr("InsufficientCidrBlocks", "there are not enough free cidr blocks in the specified subnet to satisfy the request (injected)")
	}
	if len(named) == 0 {
		got, ok := sn.pool.takePrefixes(owner, count)
		if !ok {
			return nil, apiErr("InsufficientCidrBlocks", "there are not enough free cidr blocks in subnet %s to satisfy the request", sn.id)
		}
		return got, nil
	}
	var got []netip.Prefix
	for _, s := range named {
		pf, err := netip.ParsePrefix(s)
		if err == nil {
			err = sn.pool.takePrefix(owner, pf)
		}
		if err != nil {
			for _, g := range got {
				sn.pool.releasePrefix(g)
			}
			return nil, apiErr("InvalidParameterValue", "Ipv4Prefix %q: %v", s, err)
		}
		got = append(got, pf)
	}
	return got, nil
}

// AttachNetworkInterface: NetworkInterfaceId, InstanceId, DeviceIndex.
func (c *Cloud) attachNetworkInterface(ctx context.Context, p params) (any, error) {
	eniID, err := p.require("NetworkInterfaceId")
	if err != nil {
		return nil, err
	}
	instID, err := p.require("InstanceId")
	if err != nil {
		return nil, err
	}
	if _, err := p.require("DeviceIndex"); err != nil {
		return nil, err
	}
	dev, _, err := p.integer("DeviceIndex")
	if err != nil {
		return nil, err
	}
	card, _, err := p.integer("NetworkCardIndex")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.unlockChanged()
	e, err := c.eniLocked(eniID)
	if err != nil {
		return nil, err
	}
	inst, err := c.instanceLocked(instID)
	if err != nil {
		return nil, err
	}
	if e.att != nil {
		return nil, apiErr("InvalidNetworkInterface.InUse", "interface %s is currently in use by %s", e.id, e.att.instanceID)
	}
	if inst.state == InstanceTerminated {
		return nil, apiErr("IncorrectInstanceState", "the instance '%s' is not in a valid state for this operation", inst.id)
	}
	if c.subnetByID(e.subnetID).az != inst.az {
		return nil, apiErr("InvalidParameterValue", "network interface %s is in a different availability zone than instance %s", e.id, inst.id)
	}
	if cards := max(inst.limits.NetworkCards, 1); card < 0 || card >= cards {
		return nil, apiErr("InvalidParameterValue", "NetworkCardIndex %d: %s has %d network card(s), 0 to %d", card, inst.typ, cards, cards-1)
	}
	attached := 0 // on this card: the limit and the device indexes are per card
	for _, o := range c.enis {
		if o.att == nil || o.att.instanceID != inst.id || o.att.networkCard != card {
			continue
		}
		attached++
		if o.att.deviceIndex == dev {
			return nil, apiErr("InvalidParameterValue", "instance '%s' already has an interface attached at device index '%d'", inst.id, dev)
		}
	}
	if dev < 1 || dev >= inst.limits.MaxENIs+8 {
		return nil, apiErr("InvalidParameterValue", "DeviceIndex %d: must be between 1 and %d", dev, inst.limits.MaxENIs+7)
	}
	if attached >= inst.limits.MaxENIs {
		return nil, apiErr("AttachmentLimitExceeded", "interface count %d on network card %d exceeds the limit for %s", attached+1, card, inst.typ)
	}
	if e.slots() > inst.limits.IPv4PerENI {
		return nil, apiErr("PrivateIpAddressLimitExceeded", "interface %s has %d addresses; %s allows %d per interface", e.id, e.slots(), inst.typ, inst.limits.IPv4PerENI)
	}
	if len(e.prefixes) > 0 && !inst.limits.PrefixDelegation {
		return nil, apiErr("InvalidParameterValue", "instance type %s does not support IPv4 prefixes", inst.typ)
	}
	e.att = &attachment{id: newID("eni-attach"), instanceID: inst.id, deviceIndex: dev, networkCard: card, at: time.Now().UTC()}
	if c.cfg.Fabric != nil {
		ref := c.refLocked(e)
		err := c.cfg.Fabric.AttachENI(ctx, ref)
		for _, pf := range routesOf(e) {
			if err != nil {
				break
			}
			err = c.cfg.Fabric.Route(ctx, pf, ref)
		}
		if err != nil {
			_ = c.detachLocked(ctx, e)
			return nil, err
		}
	}
	return struct {
		AttachmentID     string `xml:"attachmentId"`
		NetworkCardIndex int    `xml:"networkCardIndex"`
	}{e.att.id, card}, nil
}

// DetachNetworkInterface: AttachmentId, Force. EC2 answers at once and
// detaches in the background (beginDetachLocked); asking again while the
// detach is under way is accepted, and Force then completes a detach an
// impaired instance holds up.
func (c *Cloud) detachNetworkInterface(ctx context.Context, p params) (any, error) {
	attID, err := p.require("AttachmentId")
	if err != nil {
		return nil, err
	}
	force, _, err := p.boolean("Force")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.unlockChanged()
	for _, e := range c.enis {
		if e.att == nil || e.att.id != attID {
			continue
		}
		if e.att.deviceIndex == 0 {
			return nil, apiErr("OperationNotPermitted", "the network interface at device index 0 cannot be detached")
		}
		if err := c.beginDetachLocked(ctx, e, force); err != nil {
			return nil, err
		}
		return struct {
			Return bool `xml:"return"`
		}{true}, nil
	}
	return nil, apiErr("InvalidAttachmentID.NotFound", "the attachment ID '%s' does not exist", attID)
}

// DeleteNetworkInterface: NetworkInterfaceId; the ENI must be detached
// (a detach under way counts as attached). EC2 answers an ENI in use with
// InvalidParameterValue, not with InvalidNetworkInterface.InUse (which is
// the attach's refusal).
func (c *Cloud) deleteNetworkInterface(_ context.Context, p params) (any, error) {
	id, err := p.require("NetworkInterfaceId")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.unlockChanged()
	e, err := c.eniLocked(id)
	if err != nil {
		return nil, err
	}
	if e.att != nil {
		return nil, apiErr("InvalidParameterValue", "Network interface '%s' is currently in use.", id)
	}
	c.deleteLocked(e)
	return struct {
		Return bool `xml:"return"`
	}{true}, nil
}

// ModifyNetworkInterfaceAttribute: Attachment.{AttachmentId,DeleteOnTermination},
// Description.Value, SourceDestCheck.Value, SecurityGroupId.N; one per call.
func (c *Cloud) modifyNetworkInterfaceAttribute(_ context.Context, p params) (any, error) {
	id, err := p.require("NetworkInterfaceId")
	if err != nil {
		return nil, err
	}
	dot, hasDOT, err := p.boolean("Attachment.DeleteOnTermination")
	if err != nil {
		return nil, err
	}
	sdc, hasSDC, err := p.boolean("SourceDestCheck.Value")
	if err != nil {
		return nil, err
	}
	desc, hasDesc := p.str("Description.Value"), p.has("Description.Value")
	sgs := p.list("SecurityGroupId")
	n := 0
	for _, b := range []bool{hasDOT, hasSDC, hasDesc, len(sgs) > 0} {
		if b {
			n++
		}
	}
	if n == 0 {
		return nil, apiErr("MissingParameter", "the request must contain one of Attachment, Description, SourceDestCheck or SecurityGroupId")
	}
	if n > 1 {
		return nil, apiErr("InvalidParameterCombination", "only one attribute can be modified per call")
	}
	c.mu.Lock()
	defer c.unlockChanged()
	e, err := c.eniLocked(id)
	if err != nil {
		return nil, err
	}
	switch {
	case hasDOT:
		attID, err := p.require("Attachment.AttachmentId")
		if err != nil {
			return nil, err
		}
		if e.att == nil || e.att.id != attID {
			return nil, apiErr("InvalidAttachmentID.NotFound", "the attachment ID '%s' does not exist on %s", attID, id)
		}
		e.att.deleteOnTermination = dot
	case hasSDC:
		e.sourceDestCheck = sdc
	case hasDesc:
		e.description = desc
	default:
		for _, g := range sgs {
			if g != c.sgID {
				return nil, apiErr("InvalidGroup.NotFound", "the security group '%s' does not exist", g)
			}
		}
		e.sgs = slices.Clone(sgs)
	}
	return struct {
		Return bool `xml:"return"`
	}{true}, nil
}
