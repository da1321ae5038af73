package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/eksnet/eksnet/sim/fakeec2"
)

// gateway is the VPC router's address in a subnet: the first host, as on AWS.
func gateway(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr().Next() }

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)}
}

func addr(p netip.Prefix) *netlink.Addr { return &netlink.Addr{IPNet: ipNet(p)} }

func bridgeName(i int) string { return "br" + strconv.Itoa(i) }

// subnetIndex finds the subnet (and so the bridge) holding p.
func (v *VPC) subnetIndex(p netip.Prefix) (int, error) {
	for i, s := range v.cfg.Subnets {
		if s.CIDR == p.Masked() {
			return i, nil
		}
	}
	return 0, fmt.Errorf("subnet %s: not in this vpc", p)
}

// buildRouter creates the router namespace: forwarding on, rp_filter and
// redirects off (the VPC fabric routes by destination only), IMDS and EC2 addresses on lo, one
// bridge per subnet with the router's .1 on it.
func (v *VPC) buildRouter() error {
	path, err := v.createNS(v.cfg.Name + ".router")
	if err != nil {
		return err
	}
	v.routerPath = path
	if v.routerNS, err = netns.GetFromPath(path); err != nil {
		return fmt.Errorf("opening router netns: %w", err)
	}
	if v.router, err = netlink.NewHandleAt(v.routerNS); err != nil {
		return fmt.Errorf("netlink handle in router netns: %w", err)
	}
	err = inNS(path, func() error {
		for _, kv := range [][2]string{{"net.ipv4.ip_forward", "1"}, {"net.ipv4.conf.all.rp_filter", "0"},
			{"net.ipv4.conf.default.rp_filter", "0"},
			// The VPC router never redirects: a node told to send a pod's
			// packets straight to the owner would ARP for an address no one
			// answers for.
			{"net.ipv4.conf.all.send_redirects", "0"}, {"net.ipv4.conf.default.send_redirects", "0"},
			// Bridges (created after this) answer ARP for the addresses they
			// route back out the same bridge.
			{"net.ipv4.conf.default.proxy_arp_pvlan", "1"}} {
			if err := writeSysctl(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("router sysctls: %w", err)
	}
	lo, err := v.router.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("router lo: %w", err)
	}
	for _, a := range []netip.Addr{imdsAddr, ec2Addr} {
		if err := v.router.AddrAdd(lo, addr(netip.PrefixFrom(a, 32))); err != nil {
			return fmt.Errorf("adding %s to router lo: %w", a, err)
		}
	}
	for i, s := range v.cfg.Subnets {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName(i)}}
		if err := v.router.LinkAdd(br); err != nil {
			return fmt.Errorf("adding bridge for subnet %s: %w", s.CIDR, err)
		}
		// A bridge takes the lowest MAC of its ports unless one is set, and
		// every change of its MAC flushes all its neighbour entries, the
		// permanent ones too. Plugging an ENI would then make the router
		// re-learn node addresses by ARP, and a node answers ARP for its
		// primary address on any of its interfaces: traffic for it went to
		// the new ENI and was dropped until the entry expired (~50 s).
		if err := v.router.LinkSetHardwareAddr(br, bridgeMAC(i)); err != nil {
			return fmt.Errorf("fixing the MAC of the bridge for subnet %s: %w", s.CIDR, err)
		}
		if err := v.router.AddrAdd(br, addr(netip.PrefixFrom(gateway(s.CIDR), s.CIDR.Bits()))); err != nil {
			return fmt.Errorf("adding router address to subnet %s: %w", s.CIDR, err)
		}
		if err := v.router.LinkSetUp(br); err != nil {
			return fmt.Errorf("bringing up bridge of subnet %s: %w", s.CIDR, err)
		}
		// Proxy ARP answers wait up to 0.8 s by default; the VPC answers at once.
		if err := inNS(path, func() error { return writeSysctl("net.ipv4.neigh."+bridgeName(i)+".proxy_delay", "0") }); err != nil {
			return fmt.Errorf("bridge of subnet %s: %w", s.CIDR, err)
		}
	}
	return nil
}

// buildInternet creates the internet namespace, links it to the router and
// routes: router default -> internet, internet VPC CIDR -> router.
func (v *VPC) buildInternet() error {
	path, err := v.createNS(v.cfg.Name + ".inet")
	if err != nil {
		return err
	}
	inet, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("opening internet netns: %w", err)
	}
	defer inet.Close()
	ih, err := netlink.NewHandleAt(inet)
	if err != nil {
		return fmt.Errorf("netlink handle in internet netns: %w", err)
	}
	defer ih.Close()
	up := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "uplink"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(inet)}
	if err := v.router.LinkAdd(up); err != nil {
		return fmt.Errorf("adding router uplink veth: %w", err)
	}
	if err := v.router.AddrAdd(up, addr(routerUplink)); err != nil {
		return fmt.Errorf("adding router uplink address: %w", err)
	}
	if err := v.router.LinkSetUp(up); err != nil {
		return fmt.Errorf("bringing up router uplink: %w", err)
	}
	eth0, err := ih.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("internet eth0: %w", err)
	}
	if err := ih.AddrAdd(eth0, addr(inetUplink)); err != nil {
		return fmt.Errorf("adding internet eth0 address: %w", err)
	}
	if err := ih.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("bringing up internet eth0: %w", err)
	}
	lo, err := ih.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("internet lo: %w", err)
	}
	if err := ih.AddrAdd(lo, addr(netip.PrefixFrom(echoAddr.Addr(), 32))); err != nil {
		return fmt.Errorf("adding echo address: %w", err)
	}
	if err := v.router.RouteAdd(&netlink.Route{Gw: net.IP(inetUplink.Addr().AsSlice()), LinkIndex: up.Attrs().Index}); err != nil {
		return fmt.Errorf("adding router default route: %w", err)
	}
	if err := ih.RouteAdd(&netlink.Route{Dst: ipNet(v.cfg.VPCCIDR), Gw: net.IP(routerUplink.Addr().AsSlice()), LinkIndex: eth0.Attrs().Index}); err != nil {
		return fmt.Errorf("adding internet route to the vpc: %w", err)
	}
	return nil
}

// NodeSpec describes a node to add.
type NodeSpec struct {
	// Name is the node's name (a-z, 0-9, '-'), e.g. "node-0".
	Name string
	// InstanceType must be in the instance table, e.g. "t3.medium".
	InstanceType string
	// Subnet picks the subnet by id, CIDR or availability zone; empty = the first.
	Subnet string
}

// AddNode launches an instance in EC2 and builds its namespace: eth0 with the
// primary ENI's MAC and address on the subnet bridge, default route via the
// router.
func (v *VPC) AddNode(ctx context.Context, spec NodeSpec) (_ *Node, err error) {
	if !namePattern.MatchString(spec.Name) {
		return nil, fmt.Errorf("node name %q: must be 1-32 characters of a-z, 0-9 and '-'", spec.Name)
	}
	if spec.InstanceType == "" {
		return nil, errors.New("instance type: must not be empty (e.g. t3.medium)")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v.mu.Lock()
	if _, dup := v.nodes[spec.Name]; dup {
		v.mu.Unlock()
		return nil, fmt.Errorf("node name %q: already in use", spec.Name)
	}
	idx := v.nodeSeq
	v.nodeSeq++
	v.mu.Unlock()
	subnetID, err := v.pickSubnet(spec.Subnet)
	if err != nil {
		return nil, err
	}
	inst, err := v.cloud.LaunchInstance(fakeec2.LaunchSpec{InstanceType: spec.InstanceType, SubnetID: subnetID})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = v.cloud.TerminateInstance(context.WithoutCancel(ctx), inst.ID)
		}
	}()
	p := inst.Primary()
	mac, err := net.ParseMAC(p.MAC)
	if err != nil {
		return nil, fmt.Errorf("primary mac %q: %w", p.MAC, err)
	}
	n := &Node{Name: spec.Name, InstanceID: inst.ID, InstanceType: inst.Type, AZ: inst.AZ, SubnetID: inst.SubnetID,
		PrimaryIP: p.PrimaryIP, PrimaryMAC: mac, PrimaryENI: p.ID, vpc: v, idx: idx, nsName: v.cfg.Name + ".node." + spec.Name}
	if n.nsPath, err = v.createNS(n.nsName); err != nil {
		return nil, err
	}
	if err := v.plugENI(n, fakeec2.ENIRef{InstanceID: inst.ID, ENIID: p.ID, DeviceIndex: 0, MAC: mac,
		PrimaryIP: p.PrimaryIP, SubnetID: p.SubnetID, SubnetCIDR: p.SubnetCIDR}, true); err != nil {
		return nil, err
	}
	v.mu.Lock()
	v.nodes[n.Name] = n
	v.byInstance[n.InstanceID] = n
	v.mu.Unlock()
	v.log.Info("node up", "node", n.Name, "instance", n.InstanceID, "ip", n.PrimaryIP, "type", n.InstanceType)
	return n, nil
}

func (v *VPC) pickSubnet(sel string) (string, error) {
	st := v.cloud.State()
	if sel == "" {
		return st.Subnets[0].ID, nil
	}
	var accepted []string
	for _, s := range st.Subnets {
		if s.ID == sel || s.CIDR.String() == sel || s.AZ == sel {
			return s.ID, nil
		}
		accepted = append(accepted, s.ID+" ("+s.CIDR.String()+", "+s.AZ+")")
	}
	return "", fmt.Errorf("subnet %q: no such subnet; have %v", sel, accepted)
}

func routerPort(n *Node, dev int) string { return "n" + strconv.Itoa(n.idx) + "d" + strconv.Itoa(dev) }

// plugENI creates the ENI's veth: ethN in the node namespace with the ENI's
// MAC, its peer a port of the subnet bridge, and a permanent router neighbour
// entry for the ENI's primary address (the VPC knows every ENI's MAC; it does
// not need ARP). configure also addresses and routes it (eth0 only: EC2's
// DHCP does that for the primary ENI; secondary ENIs are the agent's job).
func (v *VPC) plugENI(n *Node, ref fakeec2.ENIRef, configure bool) error {
	br, err := v.subnetBridge(ref.SubnetCIDR)
	if err != nil {
		return err
	}
	nodeNS, err := netns.GetFromPath(n.nsPath)
	if err != nil {
		return fmt.Errorf("opening node netns %s: %w", n.nsName, err)
	}
	defer nodeNS.Close()
	ifname := "eth" + strconv.Itoa(ref.DeviceIndex)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: routerPort(n, ref.DeviceIndex), MasterIndex: br.Attrs().Index},
		PeerName: ifname, PeerHardwareAddr: ref.MAC, PeerNamespace: netlink.NsFd(nodeNS)}
	if err := v.router.LinkAdd(veth); err != nil {
		return fmt.Errorf("adding veth %s for %s on node %s: %w", ifname, ref.ENIID, n.Name, err)
	}
	if err := v.router.LinkSetUp(veth); err != nil {
		return fmt.Errorf("bringing up router port of %s: %w", ref.ENIID, err)
	}
	// A VPC has no shared L2: ENIs never reach each other directly, only
	// through the VPC router, which answers ARP for the subnet (proxy ARP
	// pvlan) and delivers by its routes. So an unassigned address is
	// unreachable even from a node that cached its MAC. Isolated ports talk
	// only to the bridge itself; the ENI's MAC is pinned to its port.
	if err := v.router.LinkSetIsolated(veth, true); err != nil {
		return fmt.Errorf("isolating the router port of %s: %w", ref.ENIID, err)
	}
	if err := v.router.NeighSet(&netlink.Neigh{LinkIndex: veth.Attrs().Index, Family: unix.AF_BRIDGE, Flags: netlink.NTF_MASTER,
		State: netlink.NUD_NOARP, HardwareAddr: ref.MAC}); err != nil { // NOARP = static; PERMANENT would mean the bridge's own
		return fmt.Errorf("pinning %s's mac %s to its bridge port: %w", ref.ENIID, ref.MAC, err)
	}
	if err := v.neighbours(br, netip.PrefixFrom(ref.PrimaryIP, 32), ref.MAC, true); err != nil {
		return fmt.Errorf("adding router neighbour %s for %s: %w", ref.PrimaryIP, ref.ENIID, err)
	}
	if !configure {
		return nil
	}
	nh, err := netlink.NewHandleAt(nodeNS)
	if err != nil {
		return fmt.Errorf("netlink handle in node %s: %w", n.Name, err)
	}
	defer nh.Close()
	link, err := nh.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("node %s %s: %w", n.Name, ifname, err)
	}
	if err := nh.AddrAdd(link, addr(netip.PrefixFrom(ref.PrimaryIP, ref.SubnetCIDR.Bits()))); err != nil {
		return fmt.Errorf("addressing node %s %s: %w", n.Name, ifname, err)
	}
	if err := nh.LinkSetUp(link); err != nil {
		return fmt.Errorf("bringing up node %s %s: %w", n.Name, ifname, err)
	}
	if err := nh.RouteAdd(&netlink.Route{Gw: net.IP(gateway(ref.SubnetCIDR).AsSlice()), LinkIndex: link.Attrs().Index}); err != nil {
		return fmt.Errorf("adding node %s default route: %w", n.Name, err)
	}
	return waitOperUp(nh, ifname)
}

// waitOperUp waits until the kernel reports the link operationally up, so the
// node's first packet is not dropped by a not yet activated queue (which would
// cost a one-second SYN retransmission).
func waitOperUp(h *netlink.Handle, name string) error {
	deadline := time.Now().Add(3 * time.Second)
	for {
		l, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("link %s: still %s after 3s", name, l.Attrs().OperState)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fabric is the kernel side of the fake EC2 (fakeec2.Fabric).
type fabric struct{ v *VPC }

func (f fabric) node(instanceID string) (*Node, error) {
	f.v.mu.Lock()
	defer f.v.mu.Unlock()
	n, ok := f.v.byInstance[instanceID]
	if !ok {
		return nil, fmt.Errorf("instance %s: no node namespace", instanceID)
	}
	return n, nil
}

// AttachENI plugs a new ethN into the node (see plugENI).
func (f fabric) AttachENI(_ context.Context, ref fakeec2.ENIRef) error {
	if ref.NetworkCard != 0 {
		// Its ethN names and router ports count device indexes of card 0.
		return fmt.Errorf("attaching %s on network card %d: the simulated fabric wires network card 0 only", ref.ENIID, ref.NetworkCard)
	}
	n, err := f.node(ref.InstanceID)
	if err != nil {
		return err
	}
	return f.v.plugENI(n, ref, false)
}

// DetachENI deletes the ENI's veth (both ends) and the router's neighbour entry.
func (f fabric) DetachENI(_ context.Context, ref fakeec2.ENIRef) error {
	n, err := f.node(ref.InstanceID)
	if err != nil {
		return err
	}
	if _, err := f.v.subnetIndex(ref.SubnetCIDR); err != nil {
		return err
	}
	if br, err := f.v.subnetBridge(ref.SubnetCIDR); err == nil {
		_ = f.v.neighbours(br, netip.PrefixFrom(ref.PrimaryIP, 32), nil, false)
	}
	port, err := f.v.router.LinkByName(routerPort(n, ref.DeviceIndex))
	if err != nil {
		return fmt.Errorf("router port of %s: %w", ref.ENIID, err)
	}
	if err := f.v.router.LinkDel(port); err != nil {
		return fmt.Errorf("deleting veth of %s: %w", ref.ENIID, err)
	}
	return nil
}

// Route makes the router send dst to the ENI's primary address (hence its MAC).
func (f fabric) Route(_ context.Context, dst netip.Prefix, ref fakeec2.ENIRef) error {
	br, err := f.v.subnetBridge(ref.SubnetCIDR)
	if err != nil {
		return err
	}
	r := &netlink.Route{Dst: ipNet(dst), Gw: net.IP(ref.PrimaryIP.AsSlice()), LinkIndex: br.Attrs().Index}
	if err := f.v.router.RouteReplace(r); err != nil {
		return fmt.Errorf("routing %s to %s (%s): %w", dst, ref.ENIID, ref.PrimaryIP, err)
	}
	// The router knows the ENI's MAC for each address, as the VPC does: no ARP.
	if err := f.v.neighbours(br, dst, ref.MAC, true); err != nil {
		return fmt.Errorf("announcing %s on %s: %w", dst, ref.ENIID, err)
	}
	return nil
}

// subnetBridge is the router's bridge of the subnet with the given CIDR.
func (v *VPC) subnetBridge(cidr netip.Prefix) (netlink.Link, error) {
	si, err := v.subnetIndex(cidr)
	if err != nil {
		return nil, err
	}
	br, err := v.router.LinkByName(bridgeName(si))
	if err != nil {
		return nil, fmt.Errorf("bridge of subnet %s: %w", cidr, err)
	}
	return br, nil
}

// neighbours adds (with mac) or removes permanent router neighbour entries
// for every address of p on the bridge.
func (v *VPC) neighbours(br netlink.Link, p netip.Prefix, mac net.HardwareAddr, add bool) error {
	var errs []error
	for a := p.Masked().Addr(); p.Contains(a); a = a.Next() {
		n := &netlink.Neigh{LinkIndex: br.Attrs().Index, Family: unix.AF_INET, State: netlink.NUD_PERMANENT,
			IP: net.IP(a.AsSlice()), HardwareAddr: mac}
		if add {
			errs = append(errs, v.router.NeighSet(n))
		} else if err := v.router.NeighDel(n); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Unroute removes that route; a missing one is fine.
func (f fabric) Unroute(_ context.Context, dst netip.Prefix, ref fakeec2.ENIRef) error {
	err := f.v.router.RouteDel(&netlink.Route{Dst: ipNet(dst), Gw: net.IP(ref.PrimaryIP.AsSlice())})
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("unrouting %s from %s: %w", dst, ref.ENIID, err)
	}
	br, err := f.v.subnetBridge(ref.SubnetCIDR)
	if err != nil {
		return err
	}
	if err := f.v.neighbours(br, dst, nil, false); err != nil {
		return fmt.Errorf("withdrawing %s from %s: %w", dst, ref.ENIID, err)
	}
	return nil
}

// bridgeMAC is subnet i's router MAC: fixed, locally administered, unicast.
func bridgeMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x65, 0x6b, 0x00, 0x00, byte(i + 1)}
}
