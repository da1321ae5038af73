package sim_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/eksnet/eksnet/sim"
)

// podGateway is the link-local next hop pods use, answered by the node's side
// of the pod veth (as the CNI plugin wires it).
var podGateway = netip.MustParsePrefix("169.254.1.1/32")

func nlAddr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)}}
}

func sysctl(t *testing.T, key, value string) {
	t.Helper()
	if err := os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(value), 0o644); err != nil {
		t.Fatalf("sysctl %s: %v", key, err)
	}
}

// wirePod plays the CNI plugin's part for one pod: a veth from the node to
// the pod namespace, the pod's /32 with a default route via 169.254.1.1, and
// the node's /32 route to the pod. It returns the pod namespace path.
func wirePod(t *testing.T, vpc *sim.VPC, node *sim.Node, name string, ip netip.Addr) string {
	t.Helper()
	podPath, err := vpc.NewPodNamespace(name)
	if err != nil {
		t.Fatal(err)
	}
	podNS, err := netns.GetFromPath(podPath)
	if err != nil {
		t.Fatal(err)
	}
	defer podNS.Close()
	hostIf := "veth" + name
	err = node.Do(func() error {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostIf}, PeerName: "eth0", PeerNamespace: netlink.NsFd(podNS)}
		if err := netlink.LinkAdd(v); err != nil {
			return err
		}
		if err := netlink.AddrAdd(v, nlAddr(podGateway)); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(v); err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{Dst: nlAddr(netip.PrefixFrom(ip, 32)).IPNet, LinkIndex: v.Attrs().Index, Scope: netlink.SCOPE_LINK})
	})
	if err != nil {
		t.Fatalf("wiring %s on the node: %v", name, err)
	}
	err = sim.RunIn(podPath, func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		if err := netlink.AddrAdd(l, nlAddr(netip.PrefixFrom(ip, 32))); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
		gw := net.IP(podGateway.Addr().AsSlice())
		if err := netlink.RouteAdd(&netlink.Route{Dst: nlAddr(podGateway).IPNet, LinkIndex: l.Attrs().Index, Scope: netlink.SCOPE_LINK}); err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{Gw: gw, LinkIndex: l.Attrs().Index})
	})
	if err != nil {
		t.Fatalf("wiring %s in the pod: %v", name, err)
	}
	return podPath
}

// servePod answers every connection to ip:8080 in the pod with its name.
func servePod(t *testing.T, podPath, name string, ip netip.Addr) {
	t.Helper()
	ln, err := sim.ListenIn(podPath, "tcp4", netip.AddrPortFrom(ip, 8080).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s\n", name)
			c.Close()
		}
	}()
}

// ask connects from the namespace at path to addr and returns the first line.
func ask(path string, network string, addr netip.AddrPort, send string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	c, err := sim.DialIn(ctx, path, network, addr.String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(800 * time.Millisecond))
	if send != "" {
		if _, err := c.Write([]byte(send)); err != nil {
			return "", err
		}
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func TestAssignedAddressesAreRoutedToTheENI(t *testing.T) {
	vpc := newVPC(t, sim.Config{})
	n0 := addNode(t, vpc, sim.NodeSpec{Name: "node-0", InstanceType: "t3.medium"})
	n1 := addNode(t, vpc, sim.NodeSpec{Name: "node-1", InstanceType: "t3.medium", Subnet: "10.0.1.0/24"})
	n2 := addNode(t, vpc, sim.NodeSpec{Name: "node-2", InstanceType: "t3.medium"}) // same subnet as node-0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := ec2From(vpc, n0)
	subnet := vpc.Cloud().State().Subnets[0].ID
	e := must(c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet)})).ok(t).NetworkInterface
	must(c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: e.NetworkInterfaceId,
		InstanceId: aws.String(n0.InstanceID), DeviceIndex: aws.Int32(1)})).ok(t)

	// The node's part (the agent's host setup): eth1 up, forwarding on,
	// reverse-path filtering loose enough for traffic entering on eth1.
	err := n0.Do(func() error {
		l, err := netlink.LinkByName("eth1")
		if err != nil {
			return err
		}
		sysctl(t, "net.ipv4.ip_forward", "1")
		sysctl(t, "net.ipv4.conf.all.rp_filter", "0")
		sysctl(t, "net.ipv4.conf.eth1.rp_filter", "0")
		return netlink.LinkSetUp(l)
	})
	if err != nil {
		t.Fatal(err)
	}
	secondary := netip.MustParseAddr("10.0.0.200")
	prefix := netip.MustParsePrefix("10.0.0.208/28")
	inPrefix := netip.MustParseAddr("10.0.0.210")
	podA := wirePod(t, vpc, n0, "a", secondary)
	podB := wirePod(t, vpc, n0, "b", inPrefix)
	servePod(t, podA, "pod-a", secondary)
	servePod(t, podB, "pod-b", inPrefix)
	a, b := netip.AddrPortFrom(secondary, 8080), netip.AddrPortFrom(inPrefix, 8080)

	// reachable probes every (source, pod) pair at once, so the negative
	// probes' timeouts overlap.
	reachable := func(want bool) {
		t.Helper()
		type probe struct {
			from, to, got string
			err           error
		}
		var probes []*probe
		done := make(chan struct{})
		for _, from := range []struct{ what, path string }{{"router", vpc.RouterNetNSPath()}, {"node-1", n1.NetNSPath()}, {"node-2", n2.NetNSPath()}} {
			for _, to := range []struct {
				addr netip.AddrPort
				name string
			}{{a, "pod-a"}, {b, "pod-b"}} {
				p := &probe{from: from.what, to: to.name}
				probes = append(probes, p)
				go func() {
					p.got, p.err = ask(from.path, "tcp4", to.addr, "")
					done <- struct{}{}
				}()
			}
		}
		for range probes {
			<-done
		}
		for _, p := range probes {
			if want && (p.err != nil || p.got != p.to) {
				t.Errorf("%s -> %s: got %q, %v", p.from, p.to, p.got, p.err)
			}
			if !want && p.err == nil {
				t.Errorf("%s -> %s: reached %q while not assigned", p.from, p.to, p.got)
			}
		}
	}
	reachable(false)

	// Nodes of one subnet reach each other's primary address (through the
	// router, as ENIs share no L2 in a VPC).
	servePod(t, n0.NetNSPath(), "node-0", n0.PrimaryIP)
	if got, err := ask(n2.NetNSPath(), "tcp4", netip.AddrPortFrom(n0.PrimaryIP, 8080), ""); err != nil || got != "node-0" {
		t.Fatalf("node-2 -> node-0 primary: %q, %v", got, err)
	}

	must(c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: e.NetworkInterfaceId,
		PrivateIpAddresses: []string{secondary.String()}})).ok(t)
	must(c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: e.NetworkInterfaceId,
		Ipv4Prefixes: []string{prefix.String()}})).ok(t)
	eniIP := aws.ToString(e.PrivateIpAddress)
	if r := routerRoutes(t, vpc); r[secondary.String()+"/32"] != eniIP || r[prefix.String()] != eniIP {
		t.Fatalf("router routes after assign: %v; want %s/32 and %s via %s", r, secondary, prefix, eniIP)
	}
	reachable(true)

	// The internet sees whatever source leaves the VPC: the router does not
	// masquerade, so an un-SNATed pod shows its own address.
	if got, err := ask(podA, "tcp4", vpc.InternetEcho(), ""); err != nil || !strings.HasPrefix(got, secondary.String()+":") {
		t.Errorf("echo from pod-a = %q, %v; want %s:PORT", got, err, secondary)
	}
	if got, err := ask(n1.NetNSPath(), "udp4", vpc.InternetEcho(), "ping\n"); err != nil || !strings.HasPrefix(got, n1.PrimaryIP.String()+":") {
		t.Errorf("udp echo from node-1 = %q, %v; want %s:PORT", got, err, n1.PrimaryIP)
	}

	must(c.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: e.NetworkInterfaceId,
		PrivateIpAddresses: []string{secondary.String()}})).ok(t)
	must(c.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: e.NetworkInterfaceId,
		Ipv4Prefixes: []string{prefix.String()}})).ok(t)
	reachable(false)

	// The router's routes are the mechanism: gone after unassign.
	if r := routerRoutes(t, vpc); r[secondary.String()+"/32"] != "" || r[prefix.String()] != "" {
		t.Fatalf("router routes after unassign: %v", r)
	}
}

// routerRoutes maps each router route's destination to its gateway.
func routerRoutes(t *testing.T, vpc *sim.VPC) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := sim.RunIn(vpc.RouterNetNSPath(), func() error {
		routes, err := netlink.RouteList(nil, unix.AF_INET)
		for _, r := range routes {
			if r.Dst != nil && r.Gw != nil {
				out[r.Dst.String()] = r.Gw.String()
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
