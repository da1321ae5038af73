package sim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"time"

	"github.com/eksnet/eksnet/bootstrap/maxpods"
	"github.com/eksnet/eksnet/sim/fakeec2"
)

// Fixed addresses outside any VPC: the simulation's "AWS side".
var (
	// imdsAddr is where IMDS answers, as on EC2.
	imdsAddr = netip.MustParseAddr("169.254.169.254")
	// ec2Addr is the regional EC2 endpoint's address, on the router.
	ec2Addr = netip.MustParseAddr("198.18.1.1")
	// routerUplink and inetUplink are the two ends of the router <-> internet link.
	routerUplink = netip.MustParsePrefix("198.18.0.1/30")
	inetUplink   = netip.MustParsePrefix("198.18.0.2/30")
	// echoAddr is the "public" echo service inside the internet namespace.
	echoAddr = netip.MustParseAddrPort("203.0.113.10:7")
	// reservedRanges may not overlap the VPC: the addresses above live there.
	reservedRanges = []netip.Prefix{
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("203.0.113.0/24"),
	}
)

// SubnetConfig is one subnet of the simulated VPC.
type SubnetConfig struct {
	// AZ is the availability zone name, e.g. "us-east-1a".
	AZ string
	// CIDR must lie inside the VPC CIDR, between /16 and /28.
	CIDR netip.Prefix
}

// Lags of AWS's read paths that `eksnet sim run` and `sim up` turn on by
// default. AWS publishes no figure for either: EC2's Describe calls are
// eventually consistent
// (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html)
// and IMDS shows an attach or an assignment some time after EC2 answered.
// The values are ours: short enough for a quick run, long enough that an
// agent trusting a fresh read hands out an address IMDS does not list yet.
const (
	DefaultIMDSDelay     = 1500 * time.Millisecond
	DefaultDescribeDelay = time.Second
)

// Config describes a simulated VPC. The zero value is a usable default.
type Config struct {
	// Name prefixes every namespace of the run (/run/netns/NAME.router, NAME.inet, NAME.node.N, NAME.pod.P). It
	// defaults to a random "es" + 6 hex digits, so parallel runs never collide.
	Name string
	// Region defaults to us-east-1.
	Region string
	// VPCCIDR defaults to 10.0.0.0/16.
	VPCCIDR netip.Prefix
	// Subnets default to 10.0.0.0/24 in REGIONa and 10.0.1.0/24 in REGIONb;
	// a /24 holds 251 addresses, 14 free aligned /28s before any node.
	Subnets []SubnetConfig
	// IMDSDelay is how long an EC2 change takes to show in IMDS (default 0).
	IMDSDelay time.Duration
	// DescribeDelay is how long an EC2 change takes to show in EC2's own
	// Describe answers, which are eventually consistent (default 0).
	// `eksnet sim run` and `sim up` turn both on (DefaultIMDSDelay,
	// DefaultDescribeDelay).
	DescribeDelay time.Duration
	// Limits returns an instance type's ENI limits; it defaults to the
	// embedded instance table (bootstrap/maxpods).
	Limits func(instanceType string) (fakeec2.Limits, error)
	// Seed makes injected fault draws reproducible; 0 picks 1.
	Seed uint64
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// namePattern keeps names short and safe for /run/netns file names.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ValidateName checks a simulation name: 1-32 characters of a-z, 0-9 and
// '-', starting with a letter or digit (it becomes file and namespace names).
func ValidateName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("name %q: must be 1-32 characters of a-z, 0-9 and '-', starting with a letter or digit", name)
	}
	return nil
}

// withDefaults fills the zero fields and validates the result. It is pure
// apart from drawing a random name.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		c.Name = "es" + hex.EncodeToString(b)
	}
	if err := ValidateName(c.Name); err != nil {
		return c, err
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if !c.VPCCIDR.IsValid() {
		c.VPCCIDR = netip.MustParsePrefix("10.0.0.0/16")
	}
	if !c.VPCCIDR.Addr().Is4() || c.VPCCIDR.Bits() < 16 || c.VPCCIDR.Bits() > 28 {
		return c, fmt.Errorf("vpc cidr %s: must be an IPv4 prefix between /16 and /28", c.VPCCIDR)
	}
	c.VPCCIDR = c.VPCCIDR.Masked()
	for _, r := range reservedRanges {
		if r.Overlaps(c.VPCCIDR) {
			return c, fmt.Errorf("vpc cidr %s: overlaps %s, which the simulation uses for IMDS, EC2 and the internet", c.VPCCIDR, r)
		}
	}
	if len(c.Subnets) == 0 {
		a := c.VPCCIDR.Addr().As4()
		if c.VPCCIDR.Bits() > 23 {
			return c, fmt.Errorf("subnets: none given and vpc cidr %s is too small for the two default /24 subnets", c.VPCCIDR)
		}
		c.Subnets = []SubnetConfig{
			{AZ: c.Region + "a", CIDR: netip.PrefixFrom(netip.AddrFrom4(a), 24)},
			{AZ: c.Region + "b", CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{a[0], a[1], a[2] + 1, 0}), 24)},
		}
	}
	for i, s := range c.Subnets {
		if s.AZ == "" {
			return c, fmt.Errorf("subnets[%d].az: must not be empty", i)
		}
		if !s.CIDR.IsValid() || !s.CIDR.Addr().Is4() || s.CIDR.Bits() < c.VPCCIDR.Bits() || s.CIDR.Bits() > 28 || !c.VPCCIDR.Contains(s.CIDR.Addr()) {
			return c, fmt.Errorf("subnets[%d].cidr %s: must be an IPv4 prefix of /28 or larger inside the vpc cidr %s", i, s.CIDR, c.VPCCIDR)
		}
		c.Subnets[i].CIDR = s.CIDR.Masked()
		for j := 0; j < i; j++ {
			if c.Subnets[j].CIDR.Overlaps(s.CIDR) {
				return c, fmt.Errorf("subnets[%d].cidr %s: overlaps subnets[%d] %s", i, s.CIDR, j, c.Subnets[j].CIDR)
			}
		}
	}
	if len(c.Subnets) > 64 {
		return c, fmt.Errorf("subnets: %d given, at most 64 supported", len(c.Subnets))
	}
	if c.IMDSDelay < 0 {
		return c, fmt.Errorf("imds delay %v: must not be negative", c.IMDSDelay)
	}
	if c.DescribeDelay < 0 {
		return c, fmt.Errorf("describe delay %v: must not be negative", c.DescribeDelay)
	}
	if c.Limits == nil {
		c.Limits = TableLimits
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// TableLimits reads an instance type's limits from the embedded instance table.
func TableLimits(instanceType string) (fakeec2.Limits, error) {
	t, err := maxpods.Lookup(instanceType)
	if err != nil {
		return fakeec2.Limits{}, err
	}
	return fakeec2.Limits{MaxENIs: t.MaxENIs, NetworkCards: t.NetworkCards, IPv4PerENI: t.IPv4PerENI, PrefixDelegation: t.SupportsPrefixDelegation()}, nil
}
