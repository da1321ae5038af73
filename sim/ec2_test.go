package sim_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/vishvananda/netlink"

	"github.com/eksnet/eksnet/sim"
)

// wantCode asserts that err is the AWS API error code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want API error %s, got %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want API error %s, got %s: %s", code, ae.ErrorCode(), ae.ErrorMessage())
	}
}

// result carries a call's value and error to ok, so one line can call and check.
type result[T any] struct {
	v   T
	err error
}

func must[T any](v T, err error) result[T] { return result[T]{v, err} }

func (r result[T]) ok(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

// ec2Subnets: a roomy subnet for the node, a /26 whose two free /28 blocks
// are easy to fragment, and a /28 that fills up at once.
func ec2Subnets() []sim.SubnetConfig {
	return []sim.SubnetConfig{
		{AZ: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.0.0/24")},
		{AZ: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.1.0/26")},
		{AZ: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.2.0/28")},
	}
}

func linkIn(t *testing.T, n *sim.Node, name string) (netlink.Link, error) {
	t.Helper()
	var l netlink.Link
	err := n.Do(func() error {
		var err error
		l, err = netlink.LinkByName(name)
		return err
	})
	return l, err
}

func TestEC2CallsWithRealSDK(t *testing.T) {
	vpc := newVPC(t, sim.Config{Subnets: ec2Subnets()})
	node := addNode(t, vpc, sim.NodeSpec{Name: "node-0", InstanceType: "t3.medium"})
	c := ec2From(vpc, node)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := vpc.Cloud().State()
	big, frag, tiny := st.Subnets[0].ID, st.Subnets[1].ID, st.Subnets[2].ID

	t.Run("DescribeInstances", func(t *testing.T) {
		out := must(c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{node.InstanceID}})).ok(t)
		inst := out.Reservations[0].Instances[0]
		if aws.ToString(inst.InstanceId) != node.InstanceID || inst.InstanceType != "t3.medium" ||
			aws.ToString(inst.PrivateIpAddress) != node.PrimaryIP.String() || len(inst.NetworkInterfaces) != 1 ||
			aws.ToString(inst.NetworkInterfaces[0].MacAddress) != node.PrimaryMAC.String() {
			t.Fatalf("instance = %+v", inst)
		}
		_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-00000000000000000"}})
		wantCode(t, err, "InvalidInstanceID.NotFound")
	})

	t.Run("DescribeSubnets", func(t *testing.T) {
		out := must(c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{tiny}})).ok(t)
		if len(out.Subnets) != 1 || aws.ToString(out.Subnets[0].CidrBlock) != "10.0.2.0/28" || aws.ToInt32(out.Subnets[0].AvailableIpAddressCount) != 11 {
			t.Fatalf("subnets = %+v", out.Subnets)
		}
		all := must(c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{st.VPCID}}}})).ok(t)
		if len(all.Subnets) != 3 {
			t.Fatalf("vpc-id filter found %d subnets, want 3", len(all.Subnets))
		}
		_, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{"subnet-00000000000000000"}})
		wantCode(t, err, "InvalidSubnetID.NotFound")
	})

	var eniID, attID string
	t.Run("CreateNetworkInterface", func(t *testing.T) {
		out := must(c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{
			SubnetId: aws.String(big), Description: aws.String("eksnet pod eni"), SecondaryPrivateIpAddressCount: aws.Int32(2),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeNetworkInterface,
				Tags: []types.Tag{{Key: aws.String("eksnet.io/cluster"), Value: aws.String("sim")}}}},
		})).ok(t)
		e := out.NetworkInterface
		eniID = aws.ToString(e.NetworkInterfaceId)
		if e.Status != types.NetworkInterfaceStatusAvailable || len(e.PrivateIpAddresses) != 3 || len(e.TagSet) != 1 ||
			aws.ToString(e.TagSet[0].Value) != "sim" || aws.ToString(e.MacAddress) == "" {
			t.Fatalf("created eni = %+v", e)
		}
		_, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String("subnet-00000000000000000")})
		wantCode(t, err, "InvalidSubnetID.NotFound")
		_, err = c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(tiny), SecondaryPrivateIpAddressCount: aws.Int32(11)})
		wantCode(t, err, "InsufficientFreeAddressesInSubnet")
		_, err = c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(big), SecondaryPrivateIpAddressCount: aws.Int32(0)})
		wantCode(t, err, "InvalidParameterValue")
	})

	t.Run("AttachNetworkInterface", func(t *testing.T) {
		out := must(c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{
			NetworkInterfaceId: aws.String(eniID), InstanceId: aws.String(node.InstanceID), DeviceIndex: aws.Int32(1)})).ok(t)
		attID = aws.ToString(out.AttachmentId)
		l, err := linkIn(t, node, "eth1")
		if err != nil {
			t.Fatalf("eth1 not in the node after attach: %v", err)
		}
		d := must(c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eniID}})).ok(t)
		if got := aws.ToString(d.NetworkInterfaces[0].MacAddress); l.Attrs().HardwareAddr.String() != got {
			t.Fatalf("eth1 mac %s, eni mac %s", l.Attrs().HardwareAddr, got)
		}
		_, err = c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{
			NetworkInterfaceId: aws.String("eni-00000000000000000"), InstanceId: aws.String(node.InstanceID), DeviceIndex: aws.Int32(2)})
		wantCode(t, err, "InvalidNetworkInterfaceID.NotFound")
		_, err = c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{
			NetworkInterfaceId: aws.String(eniID), InstanceId: aws.String(node.InstanceID), DeviceIndex: aws.Int32(2)})
		wantCode(t, err, "InvalidNetworkInterface.InUse")
	})

	t.Run("ModifyNetworkInterfaceAttribute", func(t *testing.T) {
		must(c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(eniID),
			Attachment: &types.NetworkInterfaceAttachmentChanges{AttachmentId: aws.String(attID), DeleteOnTermination: aws.Bool(true)}})).ok(t)
		d := must(c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eniID}})).ok(t)
		if a := d.NetworkInterfaces[0].Attachment; a == nil || !aws.ToBool(a.DeleteOnTermination) || aws.ToInt32(a.DeviceIndex) != 1 {
			t.Fatalf("attachment = %+v", a)
		}
		_, err := c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(eniID)})
		wantCode(t, err, "MissingParameter")
		_, err = c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String("eni-00000000000000000"),
			SourceDestCheck: &types.AttributeBooleanValue{Value: aws.Bool(false)}})
		wantCode(t, err, "InvalidNetworkInterfaceID.NotFound")
	})

	t.Run("AssignPrivateIpAddresses", func(t *testing.T) {
		out := must(c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eniID), SecondaryPrivateIpAddressCount: aws.Int32(1)})).ok(t)
		if len(out.AssignedPrivateIpAddresses) != 1 {
			t.Fatalf("assigned = %+v", out.AssignedPrivateIpAddresses)
		}
		pfx := must(c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eniID), Ipv4PrefixCount: aws.Int32(1)})).ok(t)
		if len(pfx.AssignedIpv4Prefixes) != 1 || !netip.MustParsePrefix(aws.ToString(pfx.AssignedIpv4Prefixes[0].Ipv4Prefix)).IsValid() {
			t.Fatalf("assigned prefixes = %+v", pfx.AssignedIpv4Prefixes)
		}
		// t3.medium: 6 slots per ENI; primary + 3 secondaries + 1 prefix = 5.
		_, err := c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eniID), SecondaryPrivateIpAddressCount: aws.Int32(2)})
		wantCode(t, err, "PrivateIpAddressLimitExceeded")
		_, err = c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eniID)})
		wantCode(t, err, "MissingParameter")
		_, err = c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String("eni-00000000000000000"), SecondaryPrivateIpAddressCount: aws.Int32(1)})
		wantCode(t, err, "InvalidNetworkInterfaceID.NotFound")
		if err := vpc.Faults().SetInsufficientCidrBlocks(true); err != nil {
			t.Fatal(err)
		}
		_, err = c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eniID), Ipv4PrefixCount: aws.Int32(1)})
		wantCode(t, err, "InsufficientCidrBlocks")
		_ = vpc.Faults().SetInsufficientCidrBlocks(false)
	})

	t.Run("InsufficientCidrBlocksFromFragmentation", func(t *testing.T) {
		// 10.0.1.0/26: block .0/28 holds the reserved .0-.3, block .48/28 the
		// broadcast .63; taking .20 and .40 leaves 53 free addresses and no /28.
		e := must(c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(frag)})).ok(t).NetworkInterface
		must(c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: e.NetworkInterfaceId, PrivateIpAddresses: []string{"10.0.1.20", "10.0.1.40"}})).ok(t)
		sn := must(c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{frag}})).ok(t).Subnets[0]
		if n := aws.ToInt32(sn.AvailableIpAddressCount); n != 56 {
			t.Fatalf("available = %d, want 56", n)
		}
		_, err := c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: e.NetworkInterfaceId, Ipv4PrefixCount: aws.Int32(1)})
		wantCode(t, err, "InsufficientCidrBlocks")
		_, err = c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: e.NetworkInterfaceId, Ipv4Prefixes: []string{"10.0.1.36/28"}})
		wantCode(t, err, "InvalidParameterValue")
		must(c.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: e.NetworkInterfaceId, PrivateIpAddresses: []string{"10.0.1.40"}})).ok(t)
		got := must(c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: e.NetworkInterfaceId, Ipv4PrefixCount: aws.Int32(1)})).ok(t)
		if p := aws.ToString(got.AssignedIpv4Prefixes[0].Ipv4Prefix); p != "10.0.1.32/28" {
			t.Fatalf("prefix after defragmenting = %s, want 10.0.1.32/28", p)
		}
		must(c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: e.NetworkInterfaceId})).ok(t)
	})

	t.Run("AttachmentLimitExceeded", func(t *testing.T) {
		var extra []string
		for i := 0; i < 2; i++ {
			e := must(c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(big)})).ok(t).NetworkInterface
			extra = append(extra, aws.ToString(e.NetworkInterfaceId))
		}
		must(c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: aws.String(extra[0]), InstanceId: aws.String(node.InstanceID), DeviceIndex: aws.Int32(2)})).ok(t)
		_, err := c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: aws.String(extra[1]), InstanceId: aws.String(node.InstanceID), DeviceIndex: aws.Int32(3)})
		wantCode(t, err, "AttachmentLimitExceeded")
		if _, err := linkIn(t, node, "eth3"); err == nil {
			t.Fatal("eth3 exists after a refused attach")
		}
	})

	t.Run("CreateTagsAndFilters", func(t *testing.T) {
		must(c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{eniID}, Tags: []types.Tag{{Key: aws.String("eksnet.io/node"), Value: aws.String(node.InstanceID)}}})).ok(t)
		_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"eni-00000000000000000"}, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
		wantCode(t, err, "InvalidNetworkInterfaceID.NotFound")
		f := func(name string, values ...string) types.Filter {
			return types.Filter{Name: aws.String(name), Values: values}
		}
		for _, tc := range []struct {
			filters []types.Filter
			want    int
		}{
			{[]types.Filter{f("tag:eksnet.io/node", node.InstanceID)}, 1},
			{[]types.Filter{f("tag-key", "eksnet.io/cluster")}, 1},
			{[]types.Filter{f("attachment.instance-id", node.InstanceID)}, 3},
			{[]types.Filter{f("attachment.instance-id", node.InstanceID), f("tag-key", "eksnet.io/*")}, 1},
			{[]types.Filter{f("status", "available")}, 1},
			{[]types.Filter{f("network-interface-id", eniID)}, 1},
			{[]types.Filter{f("subnet-id", big), f("vpc-id", st.VPCID)}, 4},
		} {
			out := must(c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: tc.filters})).ok(t)
			if len(out.NetworkInterfaces) != tc.want {
				t.Errorf("filters %v: %d enis, want %d", filterNames(tc.filters), len(out.NetworkInterfaces), tc.want)
			}
		}
		_, err = c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{f("no-such-filter", "x")}})
		wantCode(t, err, "InvalidParameterValue")
		_, err = c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{"eni-00000000000000000"}})
		wantCode(t, err, "InvalidNetworkInterfaceID.NotFound")
		// Pagination: the SDK paginator must see every ENI exactly once.
		var ids []string
		p := ec2.NewDescribeNetworkInterfacesPaginator(c, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(5)})
		for p.HasMorePages() {
			for _, e := range must(p.NextPage(ctx)).ok(t).NetworkInterfaces {
				ids = append(ids, aws.ToString(e.NetworkInterfaceId))
			}
		}
		if len(ids) != 4 || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 4 {
			t.Fatalf("paginated ids = %v", ids)
		}
	})

	t.Run("UnassignPrivateIpAddresses", func(t *testing.T) {
		d := must(c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eniID}})).ok(t).NetworkInterfaces[0]
		var secondary []string
		for _, a := range d.PrivateIpAddresses {
			if !aws.ToBool(a.Primary) {
				secondary = append(secondary, aws.ToString(a.PrivateIpAddress))
			}
		}
		must(c.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eniID), PrivateIpAddresses: secondary[:1]})).ok(t)
		must(c.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eniID), Ipv4Prefixes: []string{aws.ToString(d.Ipv4Prefixes[0].Ipv4Prefix)}})).ok(t)
		after := must(c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eniID}})).ok(t).NetworkInterfaces[0]
		if len(after.PrivateIpAddresses) != len(d.PrivateIpAddresses)-1 || len(after.Ipv4Prefixes) != 0 {
			t.Fatalf("after unassign: %d addresses, %d prefixes", len(after.PrivateIpAddresses), len(after.Ipv4Prefixes))
		}
		_, err := c.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eniID), PrivateIpAddresses: secondary[:1]})
		wantCode(t, err, "InvalidParameterValue")
	})

	t.Run("DetachAndDelete", func(t *testing.T) {
		_, err := c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(eniID)})
		wantCode(t, err, "InvalidParameterValue") // EC2's answer to deleting an ENI in use
		must(c.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(attID)})).ok(t)
		if _, err := linkIn(t, node, "eth1"); err == nil {
			t.Fatal("eth1 still in the node after detach")
		}
		_, err = c.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(attID)})
		wantCode(t, err, "InvalidAttachmentID.NotFound")
		must(c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(eniID)})).ok(t)
		_, err = c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(eniID)})
		wantCode(t, err, "InvalidNetworkInterfaceID.NotFound")
	})

	t.Run("InjectedFaults", func(t *testing.T) {
		f := vpc.Faults()
		if err := f.SetThrottleRatio(1); err != nil {
			t.Fatal(err)
		}
		_, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
		wantCode(t, err, "RequestLimitExceeded")
		_ = f.SetThrottleRatio(0)
		_ = f.SetServerErrorRatio(1)
		_, err = c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
		wantCode(t, err, "InternalError")
		_ = f.SetServerErrorRatio(0)
		_ = f.SetLatency(200 * time.Millisecond)
		start := time.Now()
		must(c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})).ok(t)
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Fatalf("call took %v with 200ms injected latency", d)
		}
		f.Reset()
	})

	stats := vpc.Calls()
	for _, want := range []struct {
		action, code string
	}{
		{"DescribeSubnets", "RequestLimitExceeded"}, {"DescribeSubnets", "InternalError"},
		{"AttachNetworkInterface", "AttachmentLimitExceeded"}, {"AssignPrivateIpAddresses", "InsufficientCidrBlocks"},
		{"AttachNetworkInterface", ""}, {"CreateTags", ""},
	} {
		if stats.Count(want.action, want.code) == 0 {
			t.Errorf("call log has no %s/%s; have %v", want.action, want.code, stats.ByActionCode)
		}
	}
	if stats.ByCode["RequestLimitExceeded"] != 1 {
		t.Errorf("RequestLimitExceeded counted %d times, want 1", stats.ByCode["RequestLimitExceeded"])
	}
}

func filterNames(fs []types.Filter) []string {
	var out []string
	for _, f := range fs {
		out = append(out, aws.ToString(f.Name)+"="+f.Values[0])
	}
	return out
}
