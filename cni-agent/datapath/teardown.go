package datapath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Teardown unwires p; it is idempotent: a missing namespace, veth or route is
// not an error. It refuses to touch objects that now belong to another
// attachment: when the host route to p.Address points at a different veth
// (the address was reused, or a new sandbox of the same pod took the veth
// name), that veth is left alone. Policy rules are the agent's (Unit) and
// stay.
//
// Teardown is Unroute followed by DeleteHostVeth, all before it returns: the
// plugin uses it when no agent can take the deletion off its hands.
func Teardown(p Pod) error {
	left, err := Unroute(p)
	if derr := DeleteHostVeth(left); derr != nil {
		err = errors.Join(err, derr)
	}
	return err
}

// HostLink names a host veth by name and index. The index is what makes a
// deferred deletion safe: a new sandbox of the same pod reuses the name, but
// the kernel never hands out the same index again soon (it allocates them
// cyclically over 2^31), so a HostLink can only ever name the old veth.
type HostLink struct {
	Name  string
	Index int
}

// Unroute cuts p off without deleting its veth pair: the host route to
// p.Address is deleted and the host veth is set down,
// so no packet reaches or leaves the pod and the address may be reused at
// once. It returns the host veth it left (zero when there was none of p's),
// for DeleteHostVeth now or later.
//
// Why the veth is left: deleting a veth waits for an RCU grace period
// (20-50 ms on a loaded 2-core node, most of a DEL), while the objects that
// matter for correctness (the route, the address) are gone in a few
// netlink round trips. The pair goes anyway when the runtime destroys the
// pod's namespace right after DEL; the agent deletes it earlier, in the
// background (see docs/cni.md). When the host veth cannot be found by name,
// the pod's interface is deleted here instead, since nothing else would
// find the pair.
//
// The ownership rules are Teardown's: a veth that routes another address, or
// a route to p.Address over another veth, belongs to another attachment and
// is left alone. The unit's policy rules stay: the address goes back to the
// agent's pool, and its unit with it, until the agent removes the unit.
func Unroute(p Pod) (HostLink, error) {
	var errs []error
	var host netlink.Link
	if p.HostVeth != "" {
		if l, err := netlink.LinkByName(p.HostVeth); err == nil && l.Type() == "veth" {
			host = l
		}
	}
	// The usual case costs no dump: the /32 route over p's veth is deleted
	// by exact match (the kernel matches the device too), which proves the
	// veth and the address are p's. Only when that fails (a second DEL, a
	// stale sandbox, a reused address) are the routes read to find out
	// whose they are.
	routeWasOurs := false
	if host != nil && p.Address.Is4() {
		route := &netlink.Route{LinkIndex: host.Attrs().Index, Dst: prefixNet(netip.PrefixFrom(p.Address, 32)), Scope: netlink.SCOPE_LINK, Table: MainTable}
		switch err := netlink.RouteDel(route); {
		case err == nil:
			routeWasOurs = true
		case !isNotFound(err):
			errs = append(errs, fmt.Errorf("deleting host route %s dev %s: %w", route.Dst, p.HostVeth, err))
		}
	}
	ownsVeth := routeWasOurs
	if !routeWasOurs {
		// A veth that routes another address belongs to another attachment now.
		ownsVeth = host != nil && !routesOther(host, p.Address)
	}
	var left HostLink
	if ownsVeth {
		left = HostLink{Name: p.HostVeth, Index: host.Attrs().Index}
		if err := netlink.LinkSetDown(host); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("setting host veth %s down: %w", p.HostVeth, err))
		}
	}
	if left.Index == 0 && p.Netns != "" && p.IfName != "" {
		if err := deletePodLink(p); err != nil {
			errs = append(errs, err)
		}
	}
	return left, errors.Join(errs...)
}

// DeleteHostVeth deletes the veth pair Unroute left. It is idempotent and
// safe to call late: it deletes only a veth that still has l's index and
// name, is down and routes nothing, so a veth a newer sandbox created (or
// brought up again) is never touched. The zero HostLink is a no-op.
func DeleteHostVeth(l HostLink) error {
	if l.Index <= 0 {
		return nil
	}
	link, err := netlink.LinkByIndex(l.Index)
	if err != nil {
		return nil // gone already, with the pod's namespace or an earlier call
	}
	if link.Attrs().Name != l.Name || link.Type() != "veth" || link.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{LinkIndex: l.Index, Table: MainTable}, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("listing routes of host veth %s (index %d): %w", l.Name, l.Index, err)
	}
	for _, r := range routes {
		if r.Dst != nil {
			return nil // routes a pod again: not ours any more
		}
	}
	if err := netlink.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting host veth %s (index %d): %w", l.Name, l.Index, err)
	}
	return nil
}

func deletePodLink(p Pod) error {
	podNS, err := netns.GetFromPath(p.Netns)
	if err != nil {
		return nil // the namespace is gone, and its links with it
	}
	defer podNS.Close()
	h, err := netlink.NewHandleAt(podNS)
	if err != nil {
		return fmt.Errorf("opening netlink in pod namespace %s: %w", p.Netns, err)
	}
	defer h.Close()
	l, err := h.LinkByName(p.IfName)
	if err != nil {
		return nil
	}
	if l.Type() != "veth" {
		return fmt.Errorf("pod interface %s in %s is a %s, not a veth this plugin made; left alone", p.IfName, p.Netns, l.Type())
	}
	if err := h.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting pod interface %s in %s: %w", p.IfName, p.Netns, err)
	}
	return nil
}

// routesOther reports whether veth l carries a /32 route to an address other
// than addr, i.e. belongs to another attachment.
func routesOther(l netlink.Link, addr netip.Addr) bool {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{LinkIndex: l.Attrs().Index, Table: MainTable},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	if err != nil {
		return false
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if a, ok := netip.AddrFromSlice(r.Dst.IP.To4()); ok && addr.IsValid() && a != addr {
			return true
		}
	}
	return false
}
