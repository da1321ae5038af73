// Package hostnet prepares the node's own network for pod traffic on
// secondary ENIs, through netlink (no exec of ip(8)).
//
// Route tables: the primary ENI (device 0) uses the main table (254). A
// secondary ENI with device number N uses table N+1 (device 1 -> table 2,
// device 2 -> table 3, ...), holding its subnet route and a default route via
// the subnet's router (the subnet's first host address, as in every VPC
// subnet). The agent points the from rule of each of the ENI's address
// units (datapath.Unit: a /28 prefix or a secondary IP) at it, so traffic
// from a pod leaves through the ENI that owns its address; the VPC drops it
// otherwise (source/destination check).
//
// Rules: each secondary ENI's own primary IP gets "from IP lookup N+1" at
// priority RulePriority, so the node's replies from that address leave the
// right way too.
//
// rp_filter: loose (2) on the primary interface, because replies to pods on
// secondary ENIs may arrive on eth0 while the route back to the pod points at
// a veth; strict mode would drop them.
package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// MainTable is the kernel's main routing table, used for the primary ENI.
const MainTable = unix.RT_TABLE_MAIN

// RulePriority is the priority of the from-ENI-address rules, after the
// pods' unit rules (datapath.FromPodRulePriority) and before the main table
// (32766).
const RulePriority = 1600

// TableFor returns the route table of the ENI with the given device number.
func TableFor(deviceNumber int) int {
	if deviceNumber == 0 {
		return MainTable
	}
	return deviceNumber + 1
}

// ENI is a secondary ENI to set up.
type ENI struct {
	MAC          string
	DeviceNumber int
	PrimaryIP    netip.Addr
	SubnetCIDR   netip.Prefix
}

// Gateway is the VPC router's address in a subnet: its first host address.
func Gateway(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr().Next() }

// WaitLink waits for the interface with the given MAC to appear: after
// AttachNetworkInterface the kernel sees the hot-plugged device a moment later.
func WaitLink(ctx context.Context, mac string) (netlink.Link, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return nil, fmt.Errorf("parsing MAC %q: %w", mac, err)
	}
	delay := 20 * time.Millisecond
	for {
		links, err := netlink.LinkList()
		if err != nil {
			return nil, fmt.Errorf("listing links: %w", err)
		}
		for _, l := range links {
			if strings.EqualFold(l.Attrs().HardwareAddr.String(), hw.String()) {
				return l, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the interface with MAC %s: %w", mac, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

// SetupENI brings a secondary ENI's interface up with mtu and installs its
// route table and rule. It is idempotent. It returns the interface name.
func SetupENI(ctx context.Context, e ENI, mtu int) (string, error) {
	if e.DeviceNumber == 0 {
		return "", fmt.Errorf("setting up ENI %s: device 0 is the primary ENI, the OS owns it", e.MAC)
	}
	link, err := WaitLink(ctx, e.MAC)
	if err != nil {
		return "", err
	}
	name := link.Attrs().Name
	if link.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return name, fmt.Errorf("setting MTU %d on %s: %w", mtu, name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return name, fmt.Errorf("bringing %s up: %w", name, err)
	}
	// The ENI's own address as a /32: local to the node, with no subnet
	// route in the main table that would compete with eth0's.
	addr := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(e.PrimaryIP, 32))}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return name, fmt.Errorf("adding %s to %s: %w", e.PrimaryIP, name, err)
	}
	table := TableFor(e.DeviceNumber)
	idx := link.Attrs().Index
	subnet := e.SubnetCIDR.Masked()
	gw := Gateway(subnet)
	routes := []netlink.Route{
		{LinkIndex: idx, Dst: ipNet(netip.PrefixFrom(gw, 32)), Scope: netlink.SCOPE_LINK, Table: table, Src: e.PrimaryIP.AsSlice()},
		{LinkIndex: idx, Dst: ipNet(subnet), Scope: netlink.SCOPE_LINK, Table: table, Src: e.PrimaryIP.AsSlice()},
		{LinkIndex: idx, Dst: ipNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: gw.AsSlice(), Table: table, Src: e.PrimaryIP.AsSlice()},
	}
	for _, r := range routes {
		if err := netlink.RouteReplace(&r); err != nil {
			return name, fmt.Errorf("adding route %s to table %d: %w", r, table, err)
		}
	}
	rule := fromRule(e.PrimaryIP, table)
	if err := addRule(rule); err != nil {
		return name, err
	}
	return name, nil
}

// TeardownENI removes what SetupENI installed for a detached ENI; what is
// already gone is not an error.
func TeardownENI(e ENI) error {
	table := TableFor(e.DeviceNumber)
	var errs []error
	if err := netlink.RuleDel(fromRule(e.PrimaryIP, table)); err != nil && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("deleting rule from %s lookup %d: %w", e.PrimaryIP, table, err))
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("listing routes of table %d: %w", table, err)
	}
	for _, r := range routes {
		if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("deleting route %s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

func fromRule(ip netip.Addr, table int) *netlink.Rule {
	r := netlink.NewRule()
	r.Src = ipNet(netip.PrefixFrom(ip, 32))
	r.Table = table
	r.Priority = RulePriority
	return r
}

func addRule(r *netlink.Rule) error {
	rules, err := netlink.RuleListFiltered(netlink.FAMILY_V4, r, netlink.RT_FILTER_SRC|netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PRIORITY)
	if err != nil {
		return fmt.Errorf("listing rules: %w", err)
	}
	if len(rules) > 0 {
		return nil
	}
	if err := netlink.RuleAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("adding rule from %s lookup %d: %w", r.Src, r.Table, err)
	}
	return nil
}

// LoosenRPFilter sets rp_filter to loose (2) on the interface with mac.
func LoosenRPFilter(ctx context.Context, mac string) error {
	link, err := WaitLink(ctx, mac)
	if err != nil {
		return err
	}
	path := "/proc/sys/net/ipv4/conf/" + link.Attrs().Name + "/rp_filter"
	if err := os.WriteFile(path, []byte("2"), 0o644); err != nil {
		return fmt.Errorf("setting loose rp_filter on %s: %w", link.Attrs().Name, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}
