package fakeec2

import (
	"context"
	"errors"
	"maps"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// tableFabric keeps what a kernel fabric would hold: attached ENIs and routes.
type tableFabric struct {
	mu       sync.Mutex
	attached map[string]ENIRef       // ENI id -> ref
	routes   map[netip.Prefix]string // destination -> ENI id
}

func newTableFabric() *tableFabric {
	return &tableFabric{attached: map[string]ENIRef{}, routes: map[netip.Prefix]string{}}
}

func (f *tableFabric) AttachENI(_ context.Context, e ENIRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attached[e.ENIID] = e
	return nil
}

func (f *tableFabric) DetachENI(_ context.Context, e ENIRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.attached, e.ENIID)
	return nil
}

func (f *tableFabric) Route(_ context.Context, p netip.Prefix, e ENIRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[p] = e.ENIID
	return nil
}

func (f *tableFabric) Unroute(_ context.Context, p netip.Prefix, _ ENIRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.routes, p)
	return nil
}

func (f *tableFabric) snapshot() map[netip.Prefix]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.routes)
}

func limits(typ string) (Limits, error) {
	switch typ {
	case "t3.medium":
		return Limits{MaxENIs: 3, IPv4PerENI: 6, PrefixDelegation: true}, nil
	case "m4.large":
		return Limits{MaxENIs: 2, IPv4PerENI: 10}, nil
	}
	return Limits{}, errors.New("unknown type")
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// sdkClient serves cloud on loopback for the test's duration and returns
// the real SDK's EC2 client for it, with no retries.
func sdkClient(t *testing.T, cloud *Cloud) *ec2.Client {
	t.Helper()
	srv := httptest.NewServer(cloud.Handler())
	t.Cleanup(srv.Close)
	return ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s"}, nil
		})})
}

// TestFabricFollowsEC2 drives the fake with the real SDK over loopback (no
// root needed) and checks the fabric holds exactly what EC2 says is routed.
func TestFabricFollowsEC2(t *testing.T) {
	fab := newTableFabric()
	cloud, err := New(Config{VPCCIDR: netip.MustParsePrefix("10.0.0.0/16"),
		Subnets: []SubnetSpec{{AZ: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.0.0/24")}}, Limits: limits, Fabric: fab})
	if err != nil {
		t.Fatal(err)
	}
	c := sdkClient(t, cloud)
	ctx := context.Background()
	nitro, err := cloud.LaunchInstance(LaunchSpec{InstanceType: "t3.medium"})
	if err != nil {
		t.Fatal(err)
	}
	xen, err := cloud.LaunchInstance(LaunchSpec{InstanceType: "m4.large"})
	if err != nil {
		t.Fatal(err)
	}
	subnet := cloud.State().Subnets[0].ID

	out, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet), Ipv4PrefixCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	eni := out.NetworkInterface.NetworkInterfaceId
	pfx := netip.MustParsePrefix(aws.ToString(out.NetworkInterface.Ipv4Prefixes[0].Ipv4Prefix))
	if len(fab.snapshot()) != 0 {
		t.Fatalf("routes before attach: %v", fab.snapshot())
	}
	// A Xen type takes no prefixes: the attach is refused, nothing routed.
	_, err = c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: eni, InstanceId: aws.String(xen.ID), DeviceIndex: aws.Int32(1)})
	if code(err) != "InvalidParameterValue" || len(fab.snapshot()) != 0 {
		t.Fatalf("attach with prefixes to xen: %v, routes %v", err, fab.snapshot())
	}
	att, err := c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: eni, InstanceId: aws.String(nitro.ID), DeviceIndex: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if r := fab.snapshot(); len(r) != 1 || r[pfx] != *eni {
		t.Fatalf("routes after attach = %v, want %s -> %s", r, pfx, *eni)
	}
	a, err := c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: eni, SecondaryPrivateIpAddressCount: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if r := fab.snapshot(); len(r) != 3 {
		t.Fatalf("routes after assign = %v", r)
	}
	ip := aws.ToString(a.AssignedPrivateIpAddresses[0].PrivateIpAddress)
	if _, err := c.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: eni, PrivateIpAddresses: []string{ip}}); err != nil {
		t.Fatal(err)
	}
	if r := fab.snapshot(); len(r) != 2 || r[netip.PrefixFrom(netip.MustParseAddr(ip), 32)] != "" {
		t.Fatalf("routes after unassign = %v", r)
	}
	// Xen: prefixes refused on assign too.
	p0 := xen.Primary().ID
	if _, err := c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(p0), Ipv4PrefixCount: aws.Int32(1)}); code(err) != "InvalidParameterValue" {
		t.Fatalf("prefix on xen: %v", err)
	}
	// The primary ENI cannot be detached.
	_, err = c.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(nitroPrimaryAttachment(t, c, nitro.ID))})
	if code(err) != "OperationNotPermitted" {
		t.Fatalf("detach primary: %v", err)
	}
	if _, err := c.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: att.AttachmentId}); err != nil {
		t.Fatal(err)
	}
	if r := fab.snapshot(); len(r) != 0 || len(fab.attached) != 0 {
		t.Fatalf("after detach: routes %v, attached %v", r, fab.attached)
	}
	// Terminating frees the primary's addresses.
	before := cloud.State().Subnets[0].Available
	if err := cloud.TerminateInstance(ctx, nitro.ID); err != nil {
		t.Fatal(err)
	}
	if after := cloud.State().Subnets[0].Available; after != before+1 {
		t.Fatalf("available %d -> %d after terminate, want +1", before, after)
	}
	// Unknown action and unparseable integers are API errors, not crashes.
	if _, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{{Name: aws.String("attachment.device-index"), Values: []string{"0"}}}}); err != nil {
		t.Fatal(err)
	}
}

func nitroPrimaryAttachment(t *testing.T, c *ec2.Client, instanceID string) string {
	t.Helper()
	out, err := c.DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{
		{Name: aws.String("attachment.instance-id"), Values: []string{instanceID}},
		{Name: aws.String("attachment.device-index"), Values: []string{"0"}},
	}})
	if err != nil || len(out.NetworkInterfaces) != 1 {
		t.Fatalf("primary of %s: %v %v", instanceID, err, out)
	}
	return aws.ToString(out.NetworkInterfaces[0].Attachment.AttachmentId)
}
