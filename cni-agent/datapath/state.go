// Package datapath wires one pod attachment into the node's kernel: a veth
// pair, the pod's /32, a default route through a link-local gateway pinned by
// a permanent neighbour entry and the host's /32 route back to the pod. The
// policy rules that send pod traffic through the right ENI's table are per
// unit of the agent's address pool (a /28 prefix or a secondary IP), not per
// pod: the agent adds them before it hands out the unit's addresses (Unit,
// AddUnitRules, SyncUnitRules), so ADD and DEL add and delete no rule.
//
// The design is the one the AWS VPC CNI proved on EC2: no bridge, no subnet on
// the host side, every pod a /32 routed point-to-point. The host never answers
// ARP for the gateway, because the pod never asks: its neighbour entry for
// 169.254.1.1 is permanent and points at the host veth's MAC.
//
// The wiring is described twice: as a pure rendering of the desired state
// (Desired, one `ip`-like line per kernel object, for table tests and for
// diffing) and as the real apply/teardown/verify against netlink. Verify
// observes the kernel, renders it the same way and diffs, so a check failure
// says exactly which object is missing or unexpected.
//
// Unwiring comes in two steps because they cost very different amounts.
// Unroute deletes what correctness depends on (the host route) and sets the
// host veth down, in a few netlink round trips; deleting
// the veth pair itself (DeleteHostVeth) waits for an RCU grace period in the
// kernel, 20-50 ms on a loaded node, most of what a DEL used to cost. The
// plugin therefore unroutes and hands the veth to the long-lived agent, which
// deletes it in the background; it deletes it itself (Teardown) only when no
// agent takes it. A veth the agent never gets to (it crashed) goes when the
// runtime destroys the pod's namespace, right after DEL, as the AWS VPC CNI
// relies on. A HostLink carries the veth's index so a late deletion can never
// hit a newer sandbox's veth of the same name; Setup replaces a same-named
// leftover veth, as it always did for a sandbox whose DEL never came.
//
// All functions treat the calling thread's network namespace as the host
// namespace; wrap them in InNamespace to work on another one.
package datapath

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Policy routing constants shared by the plugin, the agent and the docs.
const (
	// ToPodRulePriority orders "to <unit> lookup main" before every ENI rule,
	// so traffic to a pod is always delivered to its veth.
	ToPodRulePriority = 512
	// FromPodRulePriority orders "from <unit> lookup <eni table>" after the
	// agent's fwmark rule (1024), so connections that must leave through the
	// primary ENI still do.
	FromPodRulePriority = 1536
	// MainTable is the main routing table; units on the primary ENI use it
	// and need no from rule.
	MainTable = 254
	// MaxIfNameLen is the kernel's limit on interface names (IFNAMSIZ - 1).
	MaxIfNameLen = 15
)

// Gateway is the link-local next hop every pod routes through. It is never
// configured on any interface: the pod's permanent neighbour entry resolves it
// to the host veth's MAC.
var Gateway = netip.MustParseAddr("169.254.1.1")

// Pod is one pod attachment to wire or unwire.
type Pod struct {
	// Netns is the path of the pod's network namespace (CNI_NETNS).
	Netns string
	// IfName is the interface inside the pod (CNI_IFNAME), usually eth0.
	IfName string
	// HostVeth is the host-side veth name, see HostVethName.
	HostVeth string
	// Address is the pod's IPv4 address; the pod gets it as a /32.
	Address netip.Addr
	// RouteTable is the table of the ENI holding Address: where its unit's
	// from rule points; MainTable (the primary ENI) has no from rule.
	RouteTable int
	// Unit is the pool unit holding Address (the /28 prefix, or Address/32
	// in secondary mode), whose rules Verify expects; zero means Address/32.
	Unit netip.Prefix
	// MTU of both veth ends; 0 leaves the kernel default.
	MTU int
}

// Validate names the first field that cannot be wired.
func (p Pod) Validate() error {
	switch {
	case p.IfName == "" || len(p.IfName) > MaxIfNameLen:
		return fmt.Errorf("pod interface name %q: must be 1 to %d characters", p.IfName, MaxIfNameLen)
	case p.HostVeth == "" || len(p.HostVeth) > MaxIfNameLen:
		return fmt.Errorf("host veth name %q: must be 1 to %d characters", p.HostVeth, MaxIfNameLen)
	case !p.Address.Is4():
		return fmt.Errorf("pod address %v: must be an IPv4 address", p.Address)
	case p.RouteTable <= 0 || p.RouteTable == 255 || p.RouteTable == 253:
		return fmt.Errorf("route table %d: must be 254 (main) or an ENI table other than local (255) and default (253)", p.RouteTable)
	case p.MTU != 0 && (p.MTU < 576 || p.MTU > 65535):
		return fmt.Errorf("mtu %d: must be 0 (kernel default) or 576..65535", p.MTU)
	case p.Unit.IsValid() && (!p.Unit.Addr().Is4() || p.Unit != p.Unit.Masked() || !p.Unit.Contains(p.Address)):
		return fmt.Errorf("address unit %s: must be an IPv4 prefix with no host bits containing the pod address %s", p.Unit, p.Address)
	}
	return nil
}

// unit is the pool unit holding p.Address, with its ENI's table.
func (p Pod) unit() Unit {
	u := p.Unit
	if !u.IsValid() {
		u = netip.PrefixFrom(p.Address, 32)
	}
	return Unit{Prefix: u, Table: p.RouteTable}
}

// HostVethName derives the host-side veth name from the pod's namespace and
// name: stable across sandbox restarts (operators can find a pod's veth with
// the same formula), unique enough (40 bits of SHA-1 with the default 3-byte
// prefix...), and within the kernel's 15-character limit. Without pod
// identity (no K8S_POD_* in CNI_ARGS) it falls back to the container ID.
func HostVethName(prefix, podNamespace, podName, containerID string) string {
	key := podNamespace + "." + podName
	if podNamespace == "" || podName == "" {
		key = containerID
	}
	sum := sha1.Sum([]byte(key))
	name := prefix + hex.EncodeToString(sum[:])
	return name[:min(len(name), MaxIfNameLen)]
}

// State is an attachment's kernel objects as lines, host side and pod side,
// each sorted so two states compare line by line.
type State struct {
	Host []string
	Pod  []string
}

// String renders the state the way tests and check failures show it.
func (s State) String() string {
	var b strings.Builder
	for _, l := range s.Host {
		fmt.Fprintf(&b, "host: %s\n", l)
	}
	for _, l := range s.Pod {
		fmt.Fprintf(&b, "pod:  %s\n", l)
	}
	return b.String()
}

// Desired is the state Setup produces for p, with the rules of p's unit the
// agent added, given the host veth's MAC (known only once the veth exists;
// nil renders it as "<host-veth-mac>").
func Desired(p Pod, hostMAC net.HardwareAddr) State {
	mac := "<host-veth-mac>"
	if hostMAC != nil {
		mac = hostMAC.String()
	}
	pod := netip.PrefixFrom(p.Address, 32)
	var s State
	s.Host = append(s.Host,
		linkLine(p.HostVeth, p.MTU),
		fmt.Sprintf("route %s dev %s scope link table main", pod, p.HostVeth),
	)
	s.Host = append(s.Host, p.unit().lines()...)
	s.Pod = append(s.Pod,
		linkLine(p.IfName, p.MTU),
		fmt.Sprintf("addr %s dev %s", pod, p.IfName),
		fmt.Sprintf("route %s dev %s scope link table main", netip.PrefixFrom(Gateway, 32), p.IfName),
		fmt.Sprintf("route default via %s dev %s table main", Gateway, p.IfName),
		fmt.Sprintf("neigh %s dev %s lladdr %s PERMANENT", Gateway, p.IfName, mac),
	)
	slices.Sort(s.Host)
	slices.Sort(s.Pod)
	return s
}

// Diff lists what want has and got lacks ("missing: ...") and what got has
// beyond want ("unexpected: ..."); empty when they match.
func Diff(want, got State) []string {
	var out []string
	side := func(name string, w, g []string) {
		for _, l := range w {
			if !slices.Contains(g, l) {
				out = append(out, fmt.Sprintf("missing %s: %s", name, l))
			}
		}
		for _, l := range g {
			if !slices.Contains(w, l) {
				out = append(out, fmt.Sprintf("unexpected %s: %s", name, l))
			}
		}
	}
	side("host", want.Host, got.Host)
	side("pod", want.Pod, got.Pod)
	return out
}

func linkLine(name string, mtu int) string {
	m := "default"
	if mtu != 0 {
		m = fmt.Sprint(mtu)
	}
	return fmt.Sprintf("link %s type veth mtu %s up", name, m)
}

func ruleLine(prio int, dir string, p netip.Prefix, table int) string {
	return fmt.Sprintf("rule %d %s %s lookup %s", prio, dir, p, tableName(table))
}

func tableName(t int) string {
	if t == MainTable {
		return "main"
	}
	return fmt.Sprint(t)
}
