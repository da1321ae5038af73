package cloud

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// Instance is what the agent learns about its node from IMDS.
type Instance struct {
	ID         string
	Type       string
	Region     string
	PrimaryMAC string
	PrimaryIP  netip.Addr
	VPCCIDRs   []netip.Prefix
	// ENIs are the attached interfaces, primary included, by device number.
	ENIs []Interface
}

// Interface is one attached ENI as IMDS shows it.
type Interface struct {
	MAC            string
	ID             string
	DeviceNumber   int
	NetworkCard    int
	SubnetID       string
	SubnetCIDR     netip.Prefix
	SecurityGroups []string
	PrimaryIP      netip.Addr
	// IPs are the secondary IPs (the primary excluded).
	IPs      []netip.Addr
	Prefixes []netip.Prefix
}

// Primary returns the primary interface (device 0).
func (in Instance) Primary() (Interface, bool) {
	for _, e := range in.ENIs {
		if e.MAC == in.PrimaryMAC {
			return e, true
		}
	}
	return Interface{}, false
}

// IMDSClient is the one IMDS call the agent makes.
type IMDSClient interface {
	GetMetadata(context.Context, *imds.GetMetadataInput, ...func(*imds.Options)) (*imds.GetMetadataOutput, error)
}

// NewIMDS returns an IMDSv2-only client (no fallback to unauthenticated
// IMDSv1) for endpoint. Its retryer has no client-side retry quota: the
// agent polls IMDS while it waits for new addresses to show, and the SDK's
// quota, drained by a few seconds of slow or failing answers, would then
// fail every read at once for minutes after IMDS has recovered.
func NewIMDS(endpoint string) *imds.Client {
	return imds.New(imds.Options{
		Endpoint:       endpoint,
		EnableFallback: aws.FalseTernary,
		Retryer:        retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None }),
	})
}

// Metadata reads instance metadata.
type Metadata struct{ Client IMDSClient }

func (m Metadata) get(ctx context.Context, path string) (string, error) {
	out, err := m.Client.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
	if err != nil {
		return "", fmt.Errorf("reading IMDS %s: %w", path, err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(out.Content)
	if err != nil {
		return "", fmt.Errorf("reading IMDS %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (m Metadata) lines(ctx context.Context, path string) ([]string, error) {
	s, err := m.get(ctx, path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

// Instance reads the instance and all its interfaces.
func (m Metadata) Instance(ctx context.Context) (Instance, error) {
	var in Instance
	var err error
	if in.ID, err = m.get(ctx, "instance-id"); err != nil {
		return in, err
	}
	if in.Type, err = m.get(ctx, "instance-type"); err != nil {
		return in, err
	}
	if in.Region, err = m.get(ctx, "placement/region"); err != nil {
		return in, err
	}
	if in.PrimaryMAC, err = m.get(ctx, "mac"); err != nil {
		return in, err
	}
	ip, err := m.get(ctx, "local-ipv4")
	if err != nil {
		return in, err
	}
	if in.PrimaryIP, err = netip.ParseAddr(ip); err != nil {
		return in, fmt.Errorf("IMDS local-ipv4 %q: %w", ip, err)
	}
	if in.ENIs, err = m.Interfaces(ctx); err != nil {
		return in, err
	}
	cidrs, err := m.lines(ctx, "network/interfaces/macs/"+in.PrimaryMAC+"/vpc-ipv4-cidr-blocks")
	if err != nil {
		return in, err
	}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return in, fmt.Errorf("IMDS vpc-ipv4-cidr-blocks entry %q: %w", c, err)
		}
		in.VPCCIDRs = append(in.VPCCIDRs, p)
	}
	return in, nil
}

// Interfaces reads every attached interface.
func (m Metadata) Interfaces(ctx context.Context) ([]Interface, error) {
	macs, err := m.MACs(ctx)
	if err != nil {
		return nil, err
	}
	var out []Interface
	for _, mac := range macs {
		e, err := m.Interface(ctx, mac)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Interface reads one interface by MAC.
func (m Metadata) Interface(ctx context.Context, mac string) (Interface, error) {
	base := "network/interfaces/macs/" + mac + "/"
	e := Interface{MAC: mac}
	var err error
	if e.ID, err = m.get(ctx, base+"interface-id"); err != nil {
		return e, err
	}
	if e.DeviceNumber, err = m.DeviceNumber(ctx, mac); err != nil {
		return e, err
	}
	if card, err := m.get(ctx, base+"network-card"); err == nil {
		e.NetworkCard, _ = strconv.Atoi(card)
	}
	if e.SubnetID, err = m.get(ctx, base+"subnet-id"); err != nil {
		return e, err
	}
	cidr, err := m.get(ctx, base+"subnet-ipv4-cidr-block")
	if err != nil {
		return e, err
	}
	if e.SubnetCIDR, err = netip.ParsePrefix(cidr); err != nil {
		return e, fmt.Errorf("IMDS subnet-ipv4-cidr-block of %s %q: %w", mac, cidr, err)
	}
	if e.SecurityGroups, err = m.lines(ctx, base+"security-group-ids"); err != nil {
		return e, err
	}
	if e.PrimaryIP, e.IPs, err = m.LocalIPv4s(ctx, mac); err != nil {
		return e, err
	}
	if e.Prefixes, err = m.IPv4Prefixes(ctx, mac); err != nil {
		return e, err
	}
	return e, nil
}

// MACs lists the MACs of the attached interfaces: one IMDS read.
func (m Metadata) MACs(ctx context.Context) ([]string, error) {
	macs, err := m.lines(ctx, "network/interfaces/macs/")
	for i := range macs {
		macs[i] = strings.TrimSuffix(macs[i], "/")
	}
	return macs, err
}

// DeviceNumber reads the device index of the interface with mac.
func (m Metadata) DeviceNumber(ctx context.Context, mac string) (int, error) {
	dev, err := m.get(ctx, "network/interfaces/macs/"+mac+"/device-number")
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(dev)
	if err != nil {
		return 0, fmt.Errorf("IMDS device-number of %s %q: %w", mac, dev, err)
	}
	return n, nil
}

// LocalIPv4s reads an interface's primary and secondary IPv4 addresses.
func (m Metadata) LocalIPv4s(ctx context.Context, mac string) (primary netip.Addr, secondary []netip.Addr, err error) {
	ips, err := m.lines(ctx, "network/interfaces/macs/"+mac+"/local-ipv4s")
	if err != nil {
		return primary, nil, err
	}
	for i, s := range ips {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return primary, nil, fmt.Errorf("IMDS local-ipv4s of %s entry %q: %w", mac, s, err)
		}
		if i == 0 {
			primary = a // IMDS lists the primary address first
		} else {
			secondary = append(secondary, a)
		}
	}
	return primary, secondary, nil
}

// IPv4Prefixes reads an interface's delegated IPv4 prefixes; IMDS answers
// 404 for an interface without any, which is no error.
func (m Metadata) IPv4Prefixes(ctx context.Context, mac string) ([]netip.Prefix, error) {
	pfx, err := m.lines(ctx, "network/interfaces/macs/"+mac+"/ipv4-prefix")
	if err != nil && !isHTTPNotFound(err) {
		return nil, err
	}
	var out []netip.Prefix
	for _, s := range pfx {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("IMDS ipv4-prefix of %s entry %q: %w", mac, s, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func isHTTPNotFound(err error) bool {
	return httpStatus(err) == http.StatusNotFound
}
