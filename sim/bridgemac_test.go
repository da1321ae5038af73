package sim_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/eksnet/eksnet/sim"
)

// TestAttachingENIsKeepsTheRouterNeighbours: plugging ENIs into a subnet
// must neither change the router's MAC on it nor drop its permanent
// neighbour entries. It once did (a bridge takes its lowest port MAC), and the
// router then re-learned node addresses by ARP from whichever interface
// answered first, a freshly attached ENI included: the node was cut off for
// the ~50 s until the entry expired.
func TestAttachingENIsKeepsTheRouterNeighbours(t *testing.T) {
	vpc := newVPC(t, sim.Config{})
	nodes := []*sim.Node{
		addNode(t, vpc, sim.NodeSpec{Name: "node-0", InstanceType: "t3.medium"}),
		addNode(t, vpc, sim.NodeSpec{Name: "node-1", InstanceType: "t3.medium"}),
	}
	before := routerView(t, vpc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range nodes {
		c := ec2From(vpc, n)
		for dev := int32(1); dev <= 2; dev++ {
			out, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(n.SubnetID)})
			if err != nil {
				t.Fatal(err)
			}
			eni := out.NetworkInterface
			if _, err := c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{
				NetworkInterfaceId: eni.NetworkInterfaceId, InstanceId: aws.String(n.InstanceID), DeviceIndex: aws.Int32(dev),
			}); err != nil {
				t.Fatal(err)
			}
			// As the agent does: the ENI up with its own address.
			ip := netip.MustParseAddr(aws.ToString(eni.PrivateIpAddress))
			if err := n.Do(func() error {
				l, err := netlink.LinkByName("eth" + string(rune('0'+dev)))
				if err != nil {
					return err
				}
				if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
					return err
				}
				return netlink.LinkSetUp(l)
			}); err != nil {
				t.Fatalf("bringing up eth%d on %s: %v", dev, n.Name, err)
			}
		}
	}
	after := routerView(t, vpc)
	if after.mac.String() != before.mac.String() {
		t.Errorf("the router's MAC on the subnet changed from %s to %s when ENIs were plugged", before.mac, after.mac)
	}
	for _, n := range nodes {
		nb, ok := after.neigh[n.PrimaryIP]
		if !ok || nb.State != netlink.NUD_PERMANENT || nb.HardwareAddr.String() != n.PrimaryMAC.String() {
			t.Errorf("router neighbour for %s's primary %s = %+v (present %v), want PERMANENT %s", n.Name, n.PrimaryIP, nb, ok, n.PrimaryMAC)
		}
	}
	// And the nodes still reach the VPC's services from their primary address.
	for _, n := range nodes {
		if _, err := ec2From(vpc, n).DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{}); err != nil {
			t.Errorf("%s cannot reach EC2 after its ENIs came up: %v", n.Name, err)
		}
	}
}

type routerState struct {
	mac   net.HardwareAddr
	neigh map[netip.Addr]netlink.Neigh
}

// routerView reads the first subnet's bridge in the router: its MAC and its
// IPv4 neighbour entries.
func routerView(t *testing.T, vpc *sim.VPC) routerState {
	t.Helper()
	st := routerState{neigh: map[netip.Addr]netlink.Neigh{}}
	err := sim.RunIn(vpc.RouterNetNSPath(), func() error {
		br, err := netlink.LinkByName("br0")
		if err != nil {
			return err
		}
		st.mac = br.Attrs().HardwareAddr
		ns, err := netlink.NeighList(br.Attrs().Index, unix.AF_INET)
		if err != nil {
			return err
		}
		for _, nb := range ns {
			if a, ok := netip.AddrFromSlice(nb.IP.To4()); ok {
				st.neigh[a] = nb
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading the router's bridge: %v", err)
	}
	return st
}
