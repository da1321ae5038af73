package cloud

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2API lists the EC2 calls the agent makes, with the SDK's signatures.
type EC2API interface {
	DescribeNetworkInterfaces(context.Context, *ec2.DescribeNetworkInterfacesInput, ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error)
	CreateNetworkInterface(context.Context, *ec2.CreateNetworkInterfaceInput, ...func(*ec2.Options)) (*ec2.CreateNetworkInterfaceOutput, error)
	AttachNetworkInterface(context.Context, *ec2.AttachNetworkInterfaceInput, ...func(*ec2.Options)) (*ec2.AttachNetworkInterfaceOutput, error)
	ModifyNetworkInterfaceAttribute(context.Context, *ec2.ModifyNetworkInterfaceAttributeInput, ...func(*ec2.Options)) (*ec2.ModifyNetworkInterfaceAttributeOutput, error)
	AssignPrivateIpAddresses(context.Context, *ec2.AssignPrivateIpAddressesInput, ...func(*ec2.Options)) (*ec2.AssignPrivateIpAddressesOutput, error)
	UnassignPrivateIpAddresses(context.Context, *ec2.UnassignPrivateIpAddressesInput, ...func(*ec2.Options)) (*ec2.UnassignPrivateIpAddressesOutput, error)
	DetachNetworkInterface(context.Context, *ec2.DetachNetworkInterfaceInput, ...func(*ec2.Options)) (*ec2.DetachNetworkInterfaceOutput, error)
	DeleteNetworkInterface(context.Context, *ec2.DeleteNetworkInterfaceInput, ...func(*ec2.Options)) (*ec2.DeleteNetworkInterfaceOutput, error)
}

// Tag keys on the ENIs the agent creates: leaked-ENI collection deletes only
// detached ENIs carrying the cluster and instance tags.
const (
	TagCluster    = "eksnet.io/cluster"
	TagInstanceID = "eksnet.io/instance-id"
	TagCreatedAt  = "eksnet.io/created-at"
)

// ENI is an interface as EC2 describes it.
type ENI struct {
	ID           string
	MAC          string
	SubnetID     string
	Status       string // available, in-use, detaching, ...
	AttachmentID string
	// InstanceID is the instance the attachment is to ("" when detached).
	InstanceID  string
	DeviceIndex int
	// NetworkCard is the attachment's network card index (0 on
	// single-card types); device indexes count per card.
	NetworkCard int
	// DeleteOnTermination is the attachment's flag.
	DeleteOnTermination bool
	PrimaryIP           netip.Addr
	// IPs are the secondary private IPs (the primary excluded).
	IPs      []netip.Addr
	Prefixes []netip.Prefix
	Tags     map[string]string
}

// Observer sees every EC2 call's action, AWS error code ("" on success) and
// duration; the agent feeds metrics and status from it.
type Observer func(action, code string, d time.Duration)

// EC2 wraps the calls the agent needs in its own terms.
type EC2 struct {
	API     EC2API
	Observe Observer
}

func (c *EC2) observe(action string, start time.Time, err error) {
	if c.Observe != nil {
		code := Code(err)
		if err != nil && code == "" {
			code = "Transport"
		}
		c.Observe(action, code, time.Since(start))
	}
}

// ENIByID describes one ENI. Describe is eventually consistent: an ENI
// created moments ago may answer InvalidNetworkInterfaceID.NotFound
// (IsNotFound), and a fresh attachment may not show yet.
func (c *EC2) ENIByID(ctx context.Context, eniID string) (ENI, error) {
	start := time.Now()
	resp, err := c.API.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eniID}})
	c.observe("DescribeNetworkInterfaces", start, err)
	if err != nil {
		return ENI{}, fmt.Errorf("describing ENI %s: %w", eniID, err)
	}
	for _, ni := range resp.NetworkInterfaces {
		if aws.ToString(ni.NetworkInterfaceId) == eniID {
			return eniFromSDK(ni), nil
		}
	}
	return ENI{}, fmt.Errorf("describing ENI %s: EC2 answered without it", eniID)
}

// InstanceENIs returns the ENIs attached to the instance.
func (c *EC2) InstanceENIs(ctx context.Context, instanceID string) ([]ENI, error) {
	return c.describe(ctx, "instance "+instanceID, types.Filter{Name: aws.String("attachment.instance-id"), Values: []string{instanceID}})
}

// LeakedENIs returns the detached (available) ENIs tagged for cluster, which
// a previous run created and lost track of.
func (c *EC2) LeakedENIs(ctx context.Context, cluster string) ([]ENI, error) {
	return c.describe(ctx, "leaked ENIs of cluster "+cluster,
		clusterFilter(cluster), types.Filter{Name: aws.String("status"), Values: []string{"available"}})
}

// clusterFilter selects the ENIs carrying cluster's TagCluster.
func clusterFilter(cluster string) types.Filter {
	return types.Filter{Name: aws.String("tag:" + TagCluster), Values: []string{cluster}}
}

func (c *EC2) describe(ctx context.Context, what string, filters ...types.Filter) ([]ENI, error) {
	out, err := describeENIs(ctx, filters, func(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput) (*ec2.DescribeNetworkInterfacesOutput, error) {
		start := time.Now()
		resp, err := c.API.DescribeNetworkInterfaces(ctx, in)
		c.observe("DescribeNetworkInterfaces", start, err)
		return resp, err
	})
	if err != nil {
		return nil, fmt.Errorf("describing ENIs of %s: %w", what, err)
	}
	return out, nil
}

// describeENIs pages through DescribeNetworkInterfaces, each page asked
// through page (which observes or retries as its caller needs).
func describeENIs(ctx context.Context, filters []types.Filter,
	page func(context.Context, *ec2.DescribeNetworkInterfacesInput) (*ec2.DescribeNetworkInterfacesOutput, error)) ([]ENI, error) {
	var out []ENI
	in := &ec2.DescribeNetworkInterfacesInput{Filters: filters}
	for {
		resp, err := page(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, ni := range resp.NetworkInterfaces {
			out = append(out, eniFromSDK(ni))
		}
		if aws.ToString(resp.NextToken) == "" {
			return out, nil
		}
		in.NextToken = resp.NextToken
	}
}

func eniFromSDK(ni types.NetworkInterface) ENI {
	e := ENI{
		ID:       aws.ToString(ni.NetworkInterfaceId),
		MAC:      aws.ToString(ni.MacAddress),
		SubnetID: aws.ToString(ni.SubnetId),
		Status:   string(ni.Status),
		Tags:     map[string]string{},
	}
	if ni.Attachment != nil {
		e.AttachmentID = aws.ToString(ni.Attachment.AttachmentId)
		e.InstanceID = aws.ToString(ni.Attachment.InstanceId)
		e.DeviceIndex = int(aws.ToInt32(ni.Attachment.DeviceIndex))
		e.NetworkCard = int(aws.ToInt32(ni.Attachment.NetworkCardIndex))
		e.DeleteOnTermination = aws.ToBool(ni.Attachment.DeleteOnTermination)
	}
	for _, ip := range ni.PrivateIpAddresses {
		a, err := netip.ParseAddr(aws.ToString(ip.PrivateIpAddress))
		if err != nil {
			continue
		}
		if aws.ToBool(ip.Primary) {
			e.PrimaryIP = a
		} else {
			e.IPs = append(e.IPs, a)
		}
	}
	for _, p := range ni.Ipv4Prefixes {
		if pfx, err := netip.ParsePrefix(aws.ToString(p.Ipv4Prefix)); err == nil {
			e.Prefixes = append(e.Prefixes, pfx)
		}
	}
	for _, t := range ni.TagSet {
		e.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return e
}

// CreateSpec describes a new ENI.
type CreateSpec struct {
	SubnetID       string
	SecurityGroups []string
	Cluster        string
	InstanceID     string
	// IPCount secondary IPs or PrefixCount /28s come with the ENI, which
	// saves an Assign call per new ENI.
	IPCount     int
	PrefixCount int
	Now         time.Time
}

// CreateENI creates a tagged ENI.
func (c *EC2) CreateENI(ctx context.Context, s CreateSpec) (ENI, error) {
	in := &ec2.CreateNetworkInterfaceInput{
		SubnetId:    aws.String(s.SubnetID),
		Groups:      s.SecurityGroups,
		Description: aws.String("eksnet pod ENI of " + s.InstanceID),
		TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeNetworkInterface,
			Tags: []types.Tag{
				{Key: aws.String(TagCluster), Value: aws.String(s.Cluster)},
				{Key: aws.String(TagInstanceID), Value: aws.String(s.InstanceID)},
				{Key: aws.String(TagCreatedAt), Value: aws.String(s.Now.UTC().Format(time.RFC3339))},
			},
		}},
	}
	if s.IPCount > 0 {
		in.SecondaryPrivateIpAddressCount = aws.Int32(int32(s.IPCount))
	}
	if s.PrefixCount > 0 {
		in.Ipv4PrefixCount = aws.Int32(int32(s.PrefixCount))
	}
	start := time.Now()
	resp, err := c.API.CreateNetworkInterface(ctx, in)
	c.observe("CreateNetworkInterface", start, err)
	if err != nil {
		return ENI{}, fmt.Errorf("creating an ENI in subnet %s: %w", s.SubnetID, err)
	}
	if resp.NetworkInterface == nil {
		return ENI{}, fmt.Errorf("creating an ENI in subnet %s: EC2 answered without the interface", s.SubnetID)
	}
	return eniFromSDK(*resp.NetworkInterface), nil
}

// AttachENI attaches the ENI at deviceIndex and sets delete-on-termination,
// so a terminated instance never leaves it behind. It returns the attachment ID.
//
// The attach is sent once, without the SDK's retries: an attach whose answer
// was lost (a timeout, a 5xx after EC2 acted) may have taken effect, and a
// second one would only meet its own attachment. The caller decides such an
// outcome with ENIByID (see AttachOutcomeUnknown).
func (c *EC2) AttachENI(ctx context.Context, eniID, instanceID string, deviceIndex int) (string, error) {
	start := time.Now()
	resp, err := c.API.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{
		NetworkInterfaceId: aws.String(eniID),
		InstanceId:         aws.String(instanceID),
		DeviceIndex:        aws.Int32(int32(deviceIndex)),
		NetworkCardIndex:   aws.Int32(0),
	}, func(o *ec2.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1) })
	c.observe("AttachNetworkInterface", start, err)
	if err != nil {
		return "", fmt.Errorf("attaching ENI %s to %s at device %d: %w", eniID, instanceID, deviceIndex, err)
	}
	attachment := aws.ToString(resp.AttachmentId)
	return attachment, c.SetDeleteOnTermination(ctx, eniID, attachment)
}

// SetDeleteOnTermination marks an attachment so EC2 deletes the ENI with
// the instance.
func (c *EC2) SetDeleteOnTermination(ctx context.Context, eniID, attachmentID string) error {
	start := time.Now()
	_, err := c.API.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(eniID),
		Attachment: &types.NetworkInterfaceAttachmentChanges{
			AttachmentId:        aws.String(attachmentID),
			DeleteOnTermination: aws.Bool(true),
		},
	})
	c.observe("ModifyNetworkInterfaceAttribute", start, err)
	if err != nil {
		return fmt.Errorf("setting delete-on-termination on ENI %s (attachment %s): %w", eniID, attachmentID, err)
	}
	return nil
}

// AssignIPs adds n secondary IPs to the ENI and returns them.
func (c *EC2) AssignIPs(ctx context.Context, eniID string, n int) ([]netip.Addr, error) {
	start := time.Now()
	resp, err := c.API.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{
		NetworkInterfaceId:             aws.String(eniID),
		SecondaryPrivateIpAddressCount: aws.Int32(int32(n)),
	})
	c.observe("AssignPrivateIpAddresses", start, err)
	if err != nil {
		return nil, fmt.Errorf("assigning %d IPs to ENI %s: %w", n, eniID, err)
	}
	var out []netip.Addr
	for _, a := range resp.AssignedPrivateIpAddresses {
		if ip, err := netip.ParseAddr(aws.ToString(a.PrivateIpAddress)); err == nil {
			out = append(out, ip)
		}
	}
	return out, nil
}

// AssignPrefixes adds n /28 prefixes to the ENI and returns them.
func (c *EC2) AssignPrefixes(ctx context.Context, eniID string, n int) ([]netip.Prefix, error) {
	start := time.Now()
	resp, err := c.API.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(eniID),
		Ipv4PrefixCount:    aws.Int32(int32(n)),
	})
	c.observe("AssignPrivateIpAddresses", start, err)
	if err != nil {
		return nil, fmt.Errorf("assigning %d prefixes to ENI %s: %w", n, eniID, err)
	}
	var out []netip.Prefix
	for _, p := range resp.AssignedIpv4Prefixes {
		if pfx, err := netip.ParsePrefix(aws.ToString(p.Ipv4Prefix)); err == nil {
			out = append(out, pfx)
		}
	}
	return out, nil
}

// Unassign gives secondary IPs (/32 units) or prefixes back to EC2.
func (c *EC2) Unassign(ctx context.Context, eniID string, units []netip.Prefix) error {
	in := &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eniID)}
	for _, u := range units {
		if u.Bits() == 32 {
			in.PrivateIpAddresses = append(in.PrivateIpAddresses, u.Addr().String())
		} else {
			in.Ipv4Prefixes = append(in.Ipv4Prefixes, u.String())
		}
	}
	start := time.Now()
	_, err := c.API.UnassignPrivateIpAddresses(ctx, in)
	c.observe("UnassignPrivateIpAddresses", start, err)
	if err != nil {
		return fmt.Errorf("unassigning %v from ENI %s: %w", units, eniID, err)
	}
	return nil
}

// DetachENI detaches an attachment; an attachment already gone is success.
func (c *EC2) DetachENI(ctx context.Context, attachmentID string) error {
	start := time.Now()
	_, err := c.API.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(attachmentID)})
	c.observe("DetachNetworkInterface", start, err)
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("detaching attachment %s: %w", attachmentID, err)
	}
	return nil
}

// DeleteENI deletes a detached ENI; one already gone is success.
func (c *EC2) DeleteENI(ctx context.Context, eniID string) error {
	start := time.Now()
	_, err := c.API.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(eniID)})
	c.observe("DeleteNetworkInterface", start, err)
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("deleting ENI %s: %w", eniID, err)
	}
	return nil
}
