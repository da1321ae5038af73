package fakeec2

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/eksnet/eksnet/sim/faults"
)

// TestDescribeIsEventuallyConsistent: with a describe delay, Describe calls
// answer from the state of DescribeDelay ago (a new ENI is NotFound, an
// attach and an assignment do not show yet) while the mutating calls act on
// the current state; after the delay Describe agrees.
func TestDescribeIsEventuallyConsistent(t *testing.T) {
	const delay = 300 * time.Millisecond
	f := faults.New(1)
	cloud, err := New(Config{VPCCIDR: netip.MustParsePrefix("10.0.0.0/16"), Faults: f,
		Subnets: []SubnetSpec{{AZ: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.0.0/24")}}, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{VPCCIDR: netip.MustParsePrefix("10.0.0.0/16"), Limits: limits, DescribeDelay: -delay,
		Subnets: []SubnetSpec{{AZ: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.0.0/24")}}}); err == nil {
		t.Fatal("a negative describe delay was accepted")
	}
	c := sdkClient(t, cloud)
	ctx := context.Background()
	inst, err := cloud.LaunchInstance(LaunchSpec{InstanceType: "t3.medium"})
	if err != nil {
		t.Fatal(err)
	}
	// The delay starts now: the instance is visible, what follows is not.
	cloud.SetDescribeDelay(delay)
	subnet := cloud.State().Subnets[0].ID
	out, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet)})
	if err != nil {
		t.Fatal(err)
	}
	eni := out.NetworkInterface.NetworkInterfaceId
	if _, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{*eni}}); code(err) != "InvalidNetworkInterfaceID.NotFound" {
		t.Fatalf("describe of an ENI created just now: %v, want InvalidNetworkInterfaceID.NotFound (not propagated yet)", err)
	}
	// Mutations see the current state: the ENI is there to attach.
	if _, err := c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: eni, InstanceId: aws.String(inst.ID), DeviceIndex: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: eni, SecondaryPrivateIpAddressCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	byInstance := func() []types.NetworkInterface {
		t.Helper()
		d, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{
			{Name: aws.String("attachment.instance-id"), Values: []string{inst.ID}}}})
		if err != nil {
			t.Fatal(err)
		}
		return d.NetworkInterfaces
	}
	if got := byInstance(); len(got) != 1 {
		t.Fatalf("right after the attach Describe shows %d ENIs on the instance, want 1 (the primary; the attach not propagated yet)", len(got))
	}
	if st, _ := cloud.Instance(inst.ID); len(st.ENIs) != 2 {
		t.Fatalf("the current state has %d ENIs, want 2", len(st.ENIs))
	}
	time.Sleep(delay + 100*time.Millisecond)
	got := byInstance()
	if len(got) != 2 {
		t.Fatalf("after the delay Describe shows %d ENIs, want 2", len(got))
	}
	for _, ni := range got {
		if aws.ToString(ni.NetworkInterfaceId) == *eni && len(ni.PrivateIpAddresses) != 3 {
			t.Fatalf("after the delay %s shows %d addresses, want 3", *eni, len(ni.PrivateIpAddresses))
		}
	}
}

// TestLostAnswer: a call whose answer is lost took effect; the caller saw
// InternalError, and a retry of the attach meets the attachment it made.
func TestLostAnswer(t *testing.T) {
	f := faults.New(1)
	cloud, err := New(Config{VPCCIDR: netip.MustParsePrefix("10.0.0.0/16"), Faults: f,
		Subnets: []SubnetSpec{{AZ: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.0.0/24")}}, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	c := sdkClient(t, cloud)
	ctx := context.Background()
	inst, err := cloud.LaunchInstance(LaunchSpec{InstanceType: "t3.medium"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(cloud.State().Subnets[0].ID)})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.LoseAnswer("AttachNetworkInterface"); err != nil {
		t.Fatal(err)
	}
	in := &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: out.NetworkInterface.NetworkInterfaceId, InstanceId: aws.String(inst.ID), DeviceIndex: aws.Int32(1)}
	if _, err := c.AttachNetworkInterface(ctx, in); code(err) != "InternalError" {
		t.Fatalf("attach with its answer lost: %v, want InternalError", err)
	}
	if st, _ := cloud.Instance(inst.ID); len(st.ENIs) != 2 {
		t.Fatalf("the attach whose answer was lost left %d ENIs on the instance, want 2 (it took effect)", len(st.ENIs))
	}
	if _, err := c.AttachNetworkInterface(ctx, in); code(err) != "InvalidNetworkInterface.InUse" {
		t.Fatalf("the retry: %v, want InvalidNetworkInterface.InUse", err)
	}
	if got := f.Get().LoseAnswers; len(got) != 0 {
		t.Fatalf("lost answers left after use: %v", got)
	}
}
