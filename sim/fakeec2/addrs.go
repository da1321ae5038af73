package fakeec2

import (
	"context"
	"errors"
	"net/netip"
	"slices"
)

// AssignPrivateIpAddresses: NetworkInterfaceId and exactly one of
// SecondaryPrivateIpAddressCount, PrivateIpAddress.N, Ipv4PrefixCount, Ipv4Prefix.N.
func (c *Cloud) assignPrivateIPAddresses(ctx context.Context, p params) (any, error) {
	id, err := p.require("NetworkInterfaceId")
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
	named, namedPfx := p.list("PrivateIpAddress"), p.list("Ipv4Prefix")
	kinds := 0
	for _, b := range []bool{hasCount, hasPfxCount, len(named) > 0, len(namedPfx) > 0} {
		if b {
			kinds++
		}
	}
	if kinds == 0 {
		return nil, apiErr("MissingParameter", "the request must contain SecondaryPrivateIpAddressCount, PrivateIpAddress, Ipv4PrefixCount or Ipv4Prefix")
	}
	if kinds > 1 {
		return nil, apiErr("InvalidParameterCombination", "specify only one of SecondaryPrivateIpAddressCount, PrivateIpAddress, Ipv4PrefixCount and Ipv4Prefix")
	}
	if (hasCount && count < 1) || (hasPfxCount && pfxCount < 1) {
		return nil, apiErr("InvalidParameterValue", "the count must be at least 1")
	}
	c.mu.Lock()
	defer c.unlockChanged()
	e, err := c.eniLocked(id)
	if err != nil {
		return nil, err
	}
	sn := c.subnetByID(e.subnetID)
	asked := count + pfxCount + len(named) + len(namedPfx)
	prefixes := hasPfxCount || len(namedPfx) > 0
	if e.att != nil {
		lim := c.instances[e.att.instanceID].limits
		if prefixes && !lim.PrefixDelegation {
			return nil, apiErr("InvalidParameterValue", "instance type %s does not support IPv4 prefixes", c.instances[e.att.instanceID].typ)
		}
		if e.slots()+asked > lim.IPv4PerENI {
			return nil, apiErr("PrivateIpAddressLimitExceeded", "number of private addresses will exceed limit: interface %s has %d of %d", e.id, e.slots(), lim.IPv4PerENI)
		}
	}
	var addrs []netip.Addr
	var pfxs []netip.Prefix
	switch {
	case hasCount:
		var ok bool
		addrs, ok = sn.pool.takeAddrs(e.id, count)
		if !ok {
			return nil, apiErr("InsufficientFreeAddressesInSubnet", "subnet %s has %d free addresses, %d asked", sn.id, sn.pool.free(), count)
		}
	case len(named) > 0:
		for _, s := range named {
			a, err := netip.ParseAddr(s)
			if err == nil {
				err = sn.pool.takeAddr(e.id, a)
			}
			if err != nil {
				for _, got := range addrs {
					sn.pool.release(got)
				}
				return nil, apiErr("InvalidParameterValue", "PrivateIpAddress %q: %v", s, err)
			}
			addrs = append(addrs, a)
		}
	default:
		pfxs, err = c.takePrefixesLocked(sn, e.id, pfxCount, namedPfx)
		if err != nil {
			return nil, err
		}
	}
	e.secondary = append(e.secondary, addrs...)
	e.prefixes = append(e.prefixes, pfxs...)
	if e.plugged() && c.cfg.Fabric != nil {
		ref := c.refLocked(e)
		var errs []error
		for _, a := range addrs {
			errs = append(errs, c.cfg.Fabric.Route(ctx, netip.PrefixFrom(a, 32), ref))
		}
		for _, pf := range pfxs {
			errs = append(errs, c.cfg.Fabric.Route(ctx, pf, ref))
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	out := struct {
		ENIID    string       `xml:"networkInterfaceId"`
		Addrs    []xPrivateIP `xml:"assignedPrivateIpAddressesSet>item"`
		Prefixes []xPrefix    `xml:"assignedIpv4PrefixSet>item"`
	}{ENIID: e.id}
	for _, a := range addrs {
		out.Addrs = append(out.Addrs, xPrivateIP{PrivateIPAddress: a.String()})
	}
	for _, pf := range pfxs {
		out.Prefixes = append(out.Prefixes, xPrefix{IPv4Prefix: pf.String()})
	}
	return out, nil
}

// UnassignPrivateIpAddresses: NetworkInterfaceId and PrivateIpAddress.N or Ipv4Prefix.N.
func (c *Cloud) unassignPrivateIPAddresses(ctx context.Context, p params) (any, error) {
	id, err := p.require("NetworkInterfaceId")
	if err != nil {
		return nil, err
	}
	named, namedPfx := p.list("PrivateIpAddress"), p.list("Ipv4Prefix")
	if len(named) == 0 && len(namedPfx) == 0 {
		return nil, apiErr("MissingParameter", "the request must contain PrivateIpAddress or Ipv4Prefix")
	}
	c.mu.Lock()
	defer c.unlockChanged()
	e, err := c.eniLocked(id)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	for _, s := range named {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, apiErr("InvalidParameterValue", "PrivateIpAddress %q: not an IPv4 address", s)
		}
		if a == e.primary {
			return nil, apiErr("InvalidParameterValue", "the primary address %s of %s cannot be unassigned", a, e.id)
		}
		if !slices.Contains(e.secondary, a) {
			return nil, apiErr("InvalidParameterValue", "some of the specified addresses are not assigned to interface %s: %s", e.id, a)
		}
		addrs = append(addrs, a)
	}
	var pfxs []netip.Prefix
	for _, s := range namedPfx {
		pf, err := netip.ParsePrefix(s)
		if err != nil || !slices.Contains(e.prefixes, pf) {
			return nil, apiErr("InvalidParameterValue", "some of the specified prefixes are not assigned to interface %s: %s", e.id, s)
		}
		pfxs = append(pfxs, pf)
	}
	sn := c.subnetByID(e.subnetID)
	ref := c.refLocked(e)
	var errs []error
	for _, a := range addrs {
		e.secondary = slices.DeleteFunc(e.secondary, func(x netip.Addr) bool { return x == a })
		sn.pool.release(a)
		if e.plugged() && c.cfg.Fabric != nil {
			errs = append(errs, c.cfg.Fabric.Unroute(ctx, netip.PrefixFrom(a, 32), ref))
		}
	}
	for _, pf := range pfxs {
		e.prefixes = slices.DeleteFunc(e.prefixes, func(x netip.Prefix) bool { return x == pf })
		sn.pool.releasePrefix(pf)
		if e.plugged() && c.cfg.Fabric != nil {
			errs = append(errs, c.cfg.Fabric.Unroute(ctx, pf, ref))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return struct {
		Return bool `xml:"return"`
	}{true}, nil
}
