package fakeec2

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// lifecycleCloud is a one-subnet VPC whose detaches take delay.
func lifecycleCloud(t *testing.T, delay time.Duration) (*Cloud, *ec2.Client, string) {
	t.Helper()
	cloud, err := New(Config{VPCCIDR: netip.MustParsePrefix("10.0.0.0/16"), DetachDelay: delay, Fabric: newTableFabric(),
		Subnets: []SubnetSpec{{AZ: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.0.0/24")}}, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	return cloud, sdkClient(t, cloud), cloud.State().Subnets[0].ID
}

// attachNew creates an ENI in subnet and attaches it to inst at dev, with
// delete-on-termination as asked; it returns the ENI and attachment IDs.
func attachNew(t *testing.T, c *ec2.Client, subnet, inst string, dev int32, dot bool) (string, string) {
	t.Helper()
	ctx := context.Background()
	out, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet)})
	if err != nil {
		t.Fatal(err)
	}
	eni := aws.ToString(out.NetworkInterface.NetworkInterfaceId)
	att, err := c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: aws.String(eni), InstanceId: aws.String(inst), DeviceIndex: aws.Int32(dev)})
	if err != nil {
		t.Fatal(err)
	}
	if dot {
		if _, err := c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(eni),
			Attachment: &types.NetworkInterfaceAttachmentChanges{AttachmentId: att.AttachmentId, DeleteOnTermination: aws.Bool(true)}}); err != nil {
			t.Fatal(err)
		}
	}
	return eni, aws.ToString(att.AttachmentId)
}

// eniStatus is the ENI's status and attachment status as Describe shows
// them; gone when EC2 no longer lists it.
func eniStatus(t *testing.T, c *ec2.Client, id string) (status, attachment string, gone bool) {
	t.Helper()
	out, err := c.DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{
		Filters: []types.Filter{{Name: aws.String("network-interface-id"), Values: []string{id}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.NetworkInterfaces) == 0 {
		return "", "", true
	}
	ni := out.NetworkInterfaces[0]
	if ni.Attachment != nil {
		attachment = string(ni.Attachment.Status)
	}
	return string(ni.Status), attachment, false
}

func instanceState(t *testing.T, c *ec2.Client, id string) (string, int32) {
	t.Helper()
	out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		t.Fatalf("describe instance %s: %v %+v", id, err, out)
	}
	st := out.Reservations[0].Instances[0].State
	return string(st.Name), aws.ToInt32(st.Code)
}

// TestDetachTakesTime: a detach is answered at once, the ENI shows
// detaching (and cannot be deleted, with EC2's InvalidParameterValue "in
// use", or attached again) until the detach delay passed; then it is
// available and can be deleted.
func TestDetachTakesTime(t *testing.T) {
	const delay = 300 * time.Millisecond
	cloud, c, subnet := lifecycleCloud(t, delay)
	ctx := context.Background()
	inst, err := cloud.LaunchInstance(LaunchSpec{InstanceType: "t3.medium"})
	if err != nil {
		t.Fatal(err)
	}
	eni, att := attachNew(t, c, subnet, inst.ID, 1, false)
	_, err = c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(eni)})
	if code(err) != "InvalidParameterValue" || !strings.Contains(err.Error(), "Network interface '"+eni+"' is currently in use.") {
		t.Fatalf("delete of an attached ENI: %v, want InvalidParameterValue ... is currently in use.", err)
	}
	start := time.Now()
	if _, err := c.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(att)}); err != nil {
		t.Fatal(err)
	}
	if st, as, _ := eniStatus(t, c, eni); st != "detaching" || as != "detaching" {
		t.Fatalf("right after the detach: status %q, attachment %q; want detaching, detaching", st, as)
	}
	if _, err := c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(eni)}); code(err) != "InvalidParameterValue" {
		t.Fatalf("delete while detaching: %v, want InvalidParameterValue", err)
	}
	if _, err := c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: aws.String(eni), InstanceId: aws.String(inst.ID), DeviceIndex: aws.Int32(2)}); code(err) != "InvalidNetworkInterface.InUse" {
		t.Fatalf("attach while detaching: %v, want InvalidNetworkInterface.InUse", err)
	}
	// Asking again while the detach is under way is accepted.
	if _, err := c.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(att)}); err != nil {
		t.Fatalf("a second detach while detaching: %v", err)
	}
	for {
		st, _, _ := eniStatus(t, c, eni)
		if st == "available" {
			break
		}
		if time.Since(start) > 5*delay {
			t.Fatalf("still %s %v after the detach", st, time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(start); d < delay {
		t.Fatalf("available after %v, before the detach delay %v", d, delay)
	}
	if _, err := c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(eni)}); err != nil {
		t.Fatal(err)
	}
}

// TestInstanceLifecycleReleasesENIsAsEC2: a stopped instance keeps its
// ENIs in use; termination deletes the delete-on-termination ones (the
// primary too), leaves the others available after the detach, and the
// instance shows as terminated; an impaired instance's ENIs stay attached
// to it after termination until a forced detach. DeleteSubnet refuses with
// DependencyViolation while any of them is in the subnet.
func TestInstanceLifecycleReleasesENIsAsEC2(t *testing.T) {
	const delay = 200 * time.Millisecond
	cloud, c, subnet := lifecycleCloud(t, delay)
	ctx := context.Background()
	launch := func() string {
		t.Helper()
		inst, err := cloud.LaunchInstance(LaunchSpec{InstanceType: "t3.medium"})
		if err != nil {
			t.Fatal(err)
		}
		return inst.ID
	}
	stopped, gone, failed := launch(), launch(), launch()
	onStopped, _ := attachNew(t, c, subnet, stopped, 1, false)
	withDOT, _ := attachNew(t, c, subnet, gone, 1, true)
	withoutDOT, _ := attachNew(t, c, subnet, gone, 2, false)
	stuck, stuckAtt := attachNew(t, c, subnet, failed, 1, true)
	goneState, _ := cloud.Instance(gone)
	primary := goneState.Primary().ID

	if err := cloud.StopInstance(stopped); err != nil {
		t.Fatal(err)
	}
	if name, code := instanceState(t, c, stopped); name != "stopped" || code != 80 {
		t.Fatalf("stopped instance: %s (%d), want stopped (80)", name, code)
	}
	if st, as, _ := eniStatus(t, c, onStopped); st != "in-use" || as != "attached" {
		t.Fatalf("ENI of a stopped instance: %s/%s, want in-use/attached", st, as)
	}

	if err := cloud.TerminateInstance(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if name, code := instanceState(t, c, gone); name != "terminated" || code != 48 {
		t.Fatalf("terminated instance: %s (%d), want terminated (48)", name, code)
	}
	for _, id := range []string{primary, withDOT} {
		if _, _, g := eniStatus(t, c, id); !g {
			t.Errorf("delete-on-termination ENI %s survived the termination", id)
		}
	}
	if st, _, _ := eniStatus(t, c, withoutDOT); st != "detaching" {
		t.Errorf("ENI without delete-on-termination right after termination: %s, want detaching", st)
	}
	time.Sleep(delay + 100*time.Millisecond)
	if st, _, _ := eniStatus(t, c, withoutDOT); st != "available" {
		t.Errorf("ENI without delete-on-termination after the detach: %s, want available", st)
	}

	// A failed host: its ENI outlives the termination, attached, and a
	// plain detach never completes; a forced one does.
	if err := cloud.ImpairInstance(failed); err != nil {
		t.Fatal(err)
	}
	if err := cloud.TerminateInstance(ctx, failed); err != nil {
		t.Fatal(err)
	}
	if st, as, _ := eniStatus(t, c, stuck); st != "in-use" || as != "attached" {
		t.Fatalf("ENI of a terminated impaired instance: %s/%s, want in-use/attached (stuck)", st, as)
	}
	if _, err := c.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(stuckAtt)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay + 100*time.Millisecond)
	if st, _, _ := eniStatus(t, c, stuck); st != "detaching" {
		t.Fatalf("plain detach from a failed instance after the delay: %s, want detaching (held up)", st)
	}
	if _, err := c.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(stuckAtt), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay + 100*time.Millisecond)
	if st, _, _ := eniStatus(t, c, stuck); st != "available" {
		t.Fatalf("after a forced detach: %s, want available", st)
	}

	// Anything in the subnet blocks its deletion; once empty it goes.
	del := func() error {
		_, err := c.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(subnet)})
		return err
	}
	err := del()
	if code(err) != "DependencyViolation" || !strings.Contains(err.Error(), "The subnet '"+subnet+"' has dependencies and cannot be deleted.") {
		t.Fatalf("DeleteSubnet with ENIs in it: %v, want DependencyViolation", err)
	}
	for _, id := range []string{withoutDOT, stuck} {
		if _, err := c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := del(); code(err) != "DependencyViolation" {
		t.Fatalf("DeleteSubnet with the stopped instance's ENIs in it: %v, want DependencyViolation", err)
	}
	if err := cloud.TerminateInstance(ctx, stopped); err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay + 100*time.Millisecond)
	if _, err := c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(onStopped)}); err != nil {
		t.Fatal(err)
	}
	if err := del(); err != nil {
		t.Fatalf("DeleteSubnet of an empty subnet: %v", err)
	}
	if err := del(); code(err) != "InvalidSubnetID.NotFound" {
		t.Fatalf("DeleteSubnet again: %v, want InvalidSubnetID.NotFound", err)
	}
	if len(cloud.State().Subnets) != 0 {
		t.Fatalf("subnets after the delete: %+v", cloud.State().Subnets)
	}
}
