package sim_test

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/eksnet/eksnet/sim"
)

// nodeKernel is what a node's namespace holds, rendered for comparison.
type nodeKernel struct {
	links    map[string]string // name -> "mac up|down addrs..."
	rules    []int             // priorities
	routes   []string          // outside the main and local tables
	tables   []string          // nftables tables
	forward  string            // net.ipv4.ip_forward
	rpFilter string            // net.ipv4.conf.eth0.rp_filter
}

func kernelOf(t *testing.T, n *sim.Node) nodeKernel {
	t.Helper()
	k := nodeKernel{links: map[string]string{}}
	err := n.Do(func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			state := "down"
			if l.Attrs().Flags&net.FlagUp != 0 {
				state = "up"
			}
			desc := l.Attrs().HardwareAddr.String() + " " + state
			addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
			if err != nil {
				return err
			}
			for _, a := range addrs {
				desc += " " + a.IPNet.String()
			}
			k.links[l.Attrs().Name] = desc
		}
		rules, err := netlink.RuleList(netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range rules {
			k.rules = append(k.rules, r.Priority)
		}
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 0}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Table != 254 && r.Table != 255 {
				k.routes = append(k.routes, r.String())
			}
		}
		h, err := netns.Get()
		if err != nil {
			return err
		}
		defer h.Close()
		nft, err := nftables.New(nftables.WithNetNSFd(int(h)))
		if err != nil {
			return err
		}
		tables, err := nft.ListTables()
		if err != nil {
			return err
		}
		for _, tb := range tables {
			k.tables = append(k.tables, tb.Name)
		}
		for _, s := range []struct {
			key string
			to  *string
		}{{"net/ipv4/ip_forward", &k.forward}, {"net/ipv4/conf/eth0/rp_filter", &k.rpFilter}} {
			b, err := os.ReadFile("/proc/sys/" + s.key)
			if err != nil {
				return err
			}
			*s.to = strings.TrimSpace(string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading the kernel state of %s: %v", n.Name, err)
	}
	slices.Sort(k.rules)
	return k
}

// TestRebootNodeKeepsEC2AndLosesTheKernel: a rebooted node keeps all of
// EC2's state (instance, ENIs at their device indexes, every secondary
// address and prefix, the router's routes to them) without one EC2 call,
// and loses all of its kernel's: processes, pod namespaces, veths,
// addresses, routes, rules, nftables and sysctls of the old boot, with
// its ENIs' links back as a fresh boot shows them.
func TestRebootNodeKeepsEC2AndLosesTheKernel(t *testing.T) {
	vpc := newVPC(t, sim.Config{})
	n := addNode(t, vpc, sim.NodeSpec{Name: "rb", InstanceType: "t3.medium"})
	fresh := addNode(t, vpc, sim.NodeSpec{Name: "fresh", InstanceType: "t3.medium"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := ec2From(vpc, n)
	e := must(c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(n.SubnetID)})).ok(t).NetworkInterface
	must(c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: e.NetworkInterfaceId,
		InstanceId: aws.String(n.InstanceID), DeviceIndex: aws.Int32(1)})).ok(t)
	must(c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: e.NetworkInterfaceId,
		SecondaryPrivateIpAddressCount: aws.Int32(2)})).ok(t)
	must(c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(n.PrimaryENI),
		Ipv4PrefixCount: aws.Int32(1)})).ok(t)
	eniMAC := aws.ToString(e.MacAddress)
	bootKernel := kernelOf(t, n)

	// What an agent and its pods leave in the kernel.
	podPath, err := n.NewPodNamespace("rbpod")
	if err != nil {
		t.Fatal(err)
	}
	podNS, err := netns.GetFromPath(podPath)
	if err != nil {
		t.Fatal(err)
	}
	defer podNS.Close()
	eniIP := netip.MustParseAddr(aws.ToString(e.PrivateIpAddress))
	err = n.Do(func() error {
		eth1, err := netlink.LinkByName("eth1")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(eth1); err != nil {
			return err
		}
		if err := netlink.AddrAdd(eth1, nlAddr(netip.PrefixFrom(eniIP, 32))); err != nil {
			return err
		}
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: eth1.Attrs().Index, Dst: nlAddr(netip.MustParsePrefix("10.0.0.0/24")).IPNet, Table: 2, Scope: netlink.SCOPE_LINK}); err != nil {
			return err
		}
		rule := netlink.NewRule()
		rule.Src, rule.Table, rule.Priority = nlAddr(netip.PrefixFrom(eniIP, 32)).IPNet, 2, 1600
		if err := netlink.RuleAdd(rule); err != nil {
			return err
		}
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "enirbpod"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(podNS)}
		if err := netlink.LinkAdd(v); err != nil {
			return err
		}
		sysctl(t, "net.ipv4.ip_forward", "1")
		sysctl(t, "net.ipv4.conf.eth0.rp_filter", "2")
		h, err := netns.Get()
		if err != nil {
			return err
		}
		defer h.Close()
		nft, err := nftables.New(nftables.WithNetNSFd(int(h)))
		if err != nil {
			return err
		}
		nft.AddTable(&nftables.Table{Name: "eksnet-reboot-test", Family: nftables.TableFamilyIPv4})
		return nft.Flush()
	})
	if err != nil {
		t.Fatal(err)
	}
	// A process on the node (the agent, a shim) and one in the pod.
	nodeProc := n.Command(ctx, "sleep", "300")
	podProc := exec.CommandContext(ctx, "ip", "netns", "exec", vpc.Name()+".pod.rbpod", "sleep", "300")
	for _, p := range []*exec.Cmd{nodeProc, podProc} {
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // ip netns exec has switched and exec'd sleep
	used := kernelOf(t, n)
	if len(used.rules) == len(bootKernel.rules) || len(used.tables) == 0 || used.forward != "1" || len(used.links) != len(bootKernel.links)+1 {
		t.Fatalf("the test's own setup did not take: %+v", used)
	}

	before, _ := vpc.Cloud().Instance(n.InstanceID)
	routesBefore := routerRoutes(t, vpc)
	callsBefore := vpc.Calls().ByAction
	if err := vpc.RebootNode(ctx, n.Name); err != nil {
		t.Fatalf("RebootNode: %v", err)
	}

	// EC2 keeps all of it, and was not called.
	after, _ := vpc.Cloud().Instance(n.InstanceID)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("EC2's instance changed across the reboot:\nbefore %+v\nafter  %+v", before, after)
	}
	if len(after.ENIs) != 2 || len(after.ENIs[1].Secondary) != 2 || len(after.ENIs[0].Prefixes) != 1 {
		t.Errorf("after the reboot EC2 shows ENIs %+v; want the primary with its /28 and eth1 with 2 secondary addresses", after.ENIs)
	}
	if calls := vpc.Calls().ByAction; !maps.Equal(callsBefore, calls) {
		t.Errorf("EC2 calls changed across the reboot: %v -> %v", callsBefore, calls)
	}
	if r := routerRoutes(t, vpc); !maps.Equal(routesBefore, r) {
		t.Errorf("the VPC router's routes changed across the reboot: %v -> %v", routesBefore, r)
	}

	// The kernel keeps none of it: the node is as it booted the first time.
	got := kernelOf(t, n)
	if !reflect.DeepEqual(got, bootKernel) {
		t.Errorf("kernel of the rebooted node:\n%+v\nwant what the node booted with:\n%+v", got, bootKernel)
	}
	if want := n.PrimaryMAC.String() + " up " + netip.PrefixFrom(n.PrimaryIP, 24).String(); got.links["eth0"] != want {
		t.Errorf("eth0 after the reboot: %q, want %q", got.links["eth0"], want)
	}
	if want := eniMAC + " down"; got.links["eth1"] != want {
		t.Errorf("eth1 after the reboot: %q, want %q (the ENI's MAC, down and unaddressed, as the OS sees it at boot)", got.links["eth1"], want)
	}
	if f := kernelOf(t, fresh); got.forward != f.forward || got.rpFilter != f.rpFilter {
		t.Errorf("sysctls after the reboot: ip_forward %s rp_filter %s; a never-touched node has %s %s", got.forward, got.rpFilter, f.forward, f.rpFilter)
	}
	for what, p := range map[string]*exec.Cmd{"node": nodeProc, "pod": podProc} {
		werr := make(chan error, 1)
		go func() { werr <- p.Wait() }()
		select {
		case err := <-werr:
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Errorf("the %s's process ended with %v, want killed", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("the %s's process survived the reboot", what)
			_ = p.Process.Kill()
		}
	}
	if _, err := os.Stat(podPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pod namespace %s after the reboot: %v, want it gone", podPath, err)
	}

	// The node works: IMDS answers it with both ENIs, and a pod sandbox
	// of the same name can be made again.
	macs := mustMeta(t, ctx, imdsFrom(vpc, n), "network/interfaces/macs/")
	if !strings.Contains(macs, n.PrimaryMAC.String()) || !strings.Contains(macs, eniMAC) {
		t.Errorf("IMDS lists %q after the reboot, want both MACs", macs)
	}
	if _, err := n.NewPodNamespace("rbpod"); err != nil {
		t.Errorf("a new sandbox after the reboot: %v", err)
	}
	if err := vpc.RebootNode(ctx, "nope"); err == nil {
		t.Error("RebootNode of an unknown node succeeded")
	}
}
