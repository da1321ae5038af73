package datapath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Wired is what Setup reports for the CNI result.
type Wired struct {
	HostMAC  net.HardwareAddr
	PodMAC   net.HardwareAddr
	PodIndex int
}

// ErrNetnsGone reports that the pod's network namespace does not exist.
var ErrNetnsGone = errors.New("pod network namespace does not exist")

// Setup wires p. On any failure it undoes what it did, so the host is left
// as it was (a stale veth of the same name, from a sandbox whose DEL never
// came, is replaced rather than kept).
func Setup(p Pod) (w Wired, err error) {
	if err := p.Validate(); err != nil {
		return Wired{}, err
	}
	podNS, err := openNetns(p.Netns)
	if err != nil {
		return Wired{}, err
	}
	defer podNS.Close()
	if err := enableForwarding(); err != nil {
		return Wired{}, err
	}
	podH, err := netlink.NewHandleAt(podNS)
	if err != nil {
		return Wired{}, fmt.Errorf("opening netlink in pod namespace %s: %w", p.Netns, err)
	}
	defer podH.Close()

	if old, err := netlink.LinkByName(p.HostVeth); err == nil {
		if err := removeStaleVeth(old); err != nil {
			return Wired{}, err
		}
	}
	if _, err := podH.LinkByName(p.IfName); err == nil {
		return Wired{}, fmt.Errorf("interface %s already exists in pod namespace %s", p.IfName, p.Netns)
	}

	veth := &netlink.Veth{
		// Created up: one round trip less than a LinkSetUp afterwards.
		LinkAttrs:     netlink.LinkAttrs{Name: p.HostVeth, MTU: p.MTU, Flags: net.FlagUp},
		PeerName:      p.IfName,
		PeerMTU:       uint32(p.MTU),
		PeerNamespace: netlink.NsFd(int(podNS)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return Wired{}, fmt.Errorf("creating veth %s <-> %s in %s: %w", p.HostVeth, p.IfName, p.Netns, err)
	}
	defer func() {
		if err != nil {
			// Deleting the host end removes the pod end, the host route and
			// the pod's routes and neighbour with it.
			if l, lerr := netlink.LinkByName(p.HostVeth); lerr == nil {
				_ = netlink.LinkDel(l)
			}
		}
	}()

	host, err := netlink.LinkByName(p.HostVeth)
	if err != nil {
		return Wired{}, fmt.Errorf("reading host veth %s: %w", p.HostVeth, err)
	}
	pod, err := podH.LinkByName(p.IfName)
	if err != nil {
		return Wired{}, fmt.Errorf("reading pod interface %s: %w", p.IfName, err)
	}
	if err := wirePod(podH, pod, p, host.Attrs().HardwareAddr); err != nil {
		return Wired{}, err
	}

	pod32 := prefixNet(netip.PrefixFrom(p.Address, 32))
	route := &netlink.Route{LinkIndex: host.Attrs().Index, Dst: pod32, Scope: netlink.SCOPE_LINK, Table: MainTable}
	if err := netlink.RouteReplace(route); err != nil {
		return Wired{}, fmt.Errorf("adding host route %s dev %s: %w", pod32, p.HostVeth, err)
	}
	// No policy rule: the agent added the rules of p.Address's unit before
	// it handed the address out (Unit).
	return Wired{HostMAC: host.Attrs().HardwareAddr, PodMAC: pod.Attrs().HardwareAddr, PodIndex: pod.Attrs().Index}, nil
}

func wirePod(h *netlink.Handle, pod netlink.Link, p Pod, hostMAC net.HardwareAddr) error {
	addr := &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(p.Address, 32))}
	if err := h.AddrAdd(pod, addr); err != nil {
		return fmt.Errorf("adding %s to pod interface %s: %w", addr.IPNet, p.IfName, err)
	}
	if err := h.LinkSetUp(pod); err != nil {
		return fmt.Errorf("bringing up pod interface %s: %w", p.IfName, err)
	}
	gw := net.IP(Gateway.AsSlice())
	if err := h.RouteAdd(&netlink.Route{LinkIndex: pod.Attrs().Index, Dst: prefixNet(netip.PrefixFrom(Gateway, 32)), Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("adding pod route to gateway %s: %w", Gateway, err)
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: pod.Attrs().Index, Gw: gw}); err != nil {
		return fmt.Errorf("adding pod default route via %s: %w", Gateway, err)
	}
	neigh := &netlink.Neigh{LinkIndex: pod.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, IP: gw, HardwareAddr: hostMAC}
	if err := h.NeighSet(neigh); err != nil {
		return fmt.Errorf("adding permanent neighbour %s lladdr %s in pod: %w", Gateway, hostMAC, err)
	}
	return nil
}

// forwardingSysctl is the host switch every pod packet depends on: pods are
// routed, not bridged.
const forwardingSysctl = "/proc/sys/net/ipv4/ip_forward"

// enableForwarding turns on IPv4 forwarding in the host namespace if it is
// off, as the ptp plugin does: without it no pod packet leaves its veth.
func enableForwarding() error {
	b, err := os.ReadFile(forwardingSysctl)
	if err != nil {
		return fmt.Errorf("reading %s: %w", forwardingSysctl, err)
	}
	if strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	if err := os.WriteFile(forwardingSysctl, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enabling IPv4 forwarding (%s): %w", forwardingSysctl, err)
	}
	return nil
}

// removeStaleVeth deletes a host veth left by a sandbox whose DEL never came;
// its host route goes with it.
func removeStaleVeth(l netlink.Link) error {
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("removing stale host veth %s: %w", l.Attrs().Name, err)
	}
	return nil
}

// covering returns the IPv4 prefix of n when it contains addr.
func covering(n *net.IPNet, addr netip.Addr) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits != 32 {
		return netip.Prefix{}, false
	}
	p := netip.PrefixFrom(a, ones)
	return p, p.Contains(addr)
}

// Observe reads p's kernel objects and renders them like Desired: the host
// veth, the host routes on it, the policy rules at the pod priorities whose
// selector contains p.Address (its unit's, and any stale one), and inside
// the pod the interface, its addresses, routes and permanent neighbours.
// Objects that exist but are not p's do not appear, so Diff(Desired, Observe)
// speaks only about this attachment.
func Observe(p Pod) (State, net.HardwareAddr, error) {
	var s State
	var hostMAC net.HardwareAddr
	if l, err := netlink.LinkByName(p.HostVeth); err == nil {
		hostMAC = l.Attrs().HardwareAddr
		s.Host = append(s.Host, observedLink(l, p.MTU))
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4,
			&netlink.Route{LinkIndex: l.Attrs().Index, Table: MainTable}, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
		if err != nil {
			return State{}, nil, fmt.Errorf("listing host routes on %s: %w", p.HostVeth, err)
		}
		for _, r := range routes {
			s.Host = append(s.Host, routeLine(r, p.HostVeth))
		}
	}
	rules, err := netlink.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return State{}, nil, fmt.Errorf("listing policy rules: %w", err)
	}
	for _, r := range rules {
		if r.Priority != ToPodRulePriority && r.Priority != FromPodRulePriority {
			continue
		}
		if dst, ok := covering(r.Dst, p.Address); ok {
			s.Host = append(s.Host, ruleLine(r.Priority, "to", dst, r.Table))
		} else if src, ok := covering(r.Src, p.Address); ok {
			s.Host = append(s.Host, ruleLine(r.Priority, "from", src, r.Table))
		}
	}
	pod, err := observePod(p)
	if err != nil {
		return State{}, nil, err
	}
	s.Pod = pod
	slices.Sort(s.Host)
	slices.Sort(s.Pod)
	return s, hostMAC, nil
}

func observePod(p Pod) ([]string, error) {
	if p.Netns == "" {
		return nil, nil
	}
	podNS, err := openNetns(p.Netns)
	if errors.Is(err, ErrNetnsGone) {
		return nil, nil // nothing inside: Verify reports every pod object missing
	}
	if err != nil {
		return nil, err
	}
	defer podNS.Close()
	h, err := netlink.NewHandleAt(podNS)
	if err != nil {
		return nil, fmt.Errorf("opening netlink in pod namespace %s: %w", p.Netns, err)
	}
	defer h.Close()
	l, err := h.LinkByName(p.IfName)
	if err != nil {
		return nil, nil
	}
	out := []string{observedLink(l, p.MTU)}
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing addresses on pod interface %s: %w", p.IfName, err)
	}
	for _, a := range addrs {
		out = append(out, fmt.Sprintf("addr %s dev %s", a.IPNet, p.IfName))
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: l.Attrs().Index, Table: MainTable}, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("listing pod routes on %s: %w", p.IfName, err)
	}
	for _, r := range routes {
		out = append(out, routeLine(r, p.IfName))
	}
	neighs, err := h.NeighList(l.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing pod neighbours on %s: %w", p.IfName, err)
	}
	for _, n := range neighs {
		if n.State&netlink.NUD_PERMANENT != 0 {
			out = append(out, fmt.Sprintf("neigh %s dev %s lladdr %s PERMANENT", n.IP, p.IfName, n.HardwareAddr))
		}
	}
	return out, nil
}

// Verify checks that p is wired exactly as Setup wires it and, if not, says
// which objects are missing or unexpected.
func Verify(p Pod) error {
	if err := p.Validate(); err != nil {
		return err
	}
	got, hostMAC, err := Observe(p)
	if err != nil {
		return err
	}
	if diff := Diff(Desired(p, hostMAC), got); len(diff) > 0 {
		return fmt.Errorf("pod %s (%s in %s) is not wired as expected: %s", p.Address, p.IfName, p.Netns, strings.Join(diff, "; "))
	}
	return nil
}

func observedLink(l netlink.Link, wantMTU int) string {
	mtu := l.Attrs().MTU
	if wantMTU == 0 {
		mtu = 0
	}
	line := linkLine(l.Attrs().Name, mtu)
	if l.Type() != "veth" {
		line = strings.Replace(line, "type veth", "type "+l.Type(), 1)
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		line = strings.TrimSuffix(line, " up") + " down"
	}
	return line
}

func routeLine(r netlink.Route, dev string) string {
	dst := "default"
	if r.Dst != nil {
		if ones, _ := r.Dst.Mask.Size(); ones != 0 {
			dst = r.Dst.String()
		}
	}
	line := "route " + dst
	if r.Gw != nil {
		line += " via " + r.Gw.String()
	}
	line += " dev " + dev
	if r.Scope == netlink.SCOPE_LINK {
		line += " scope link"
	}
	return line + " table " + tableName(r.Table)
}

func openNetns(path string) (netns.NsHandle, error) {
	if path == "" {
		return netns.None(), fmt.Errorf("pod network namespace path is empty")
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return netns.None(), fmt.Errorf("%w: %s", ErrNetnsGone, path)
		}
		return netns.None(), fmt.Errorf("opening pod network namespace %s: %w", path, err)
	}
	return h, nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func isNotFound(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ESRCH)
}
