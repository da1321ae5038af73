// Package fakeec2 is the simulated VPC's EC2: the state of one VPC (subnets,
// instances, ENIs, addresses, tags) and an HTTP handler that speaks the EC2
// query protocol (form-encoded POST, XML answers, real AWS error codes) well
// enough for aws-sdk-go-v2's ec2 client. It enforces what the node agent must
// respect on AWS: the instance type's ENI and per-ENI address limits (a /28
// prefix takes one address slot), subnet free space and /28 alignment with
// fragmentation. Instances and ENIs go through EC2's lifecycle (lifecycle.go):
// detaches take time, stopped instances keep their ENIs, termination
// deletes or releases them, and a subnet with an ENI in it cannot be
// deleted. Every change that matters to packets goes through a Fabric,
// so in the simulation a wrong EC2 request breaks connectivity, not only an
// assertion.
package fakeec2

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/eksnet/eksnet/sim/faults"
	"github.com/eksnet/eksnet/sim/lag"
)

// Limits are the instance type figures EC2 enforces on network interfaces.
type Limits struct {
	// MaxENIs is how many ENIs the instance may have attached to each
	// network card, the primary (card 0) included. Every multi-card type
	// in the AWS VPC CNI's table has the same count on each card.
	MaxENIs int
	// NetworkCards is how many network cards the type has; 0 means 1.
	// AttachNetworkInterface takes NetworkCardIndex 0 to NetworkCards-1.
	NetworkCards int
	// IPv4PerENI counts the address slots of one ENI: the primary address, each
	// secondary address and each /28 prefix take one slot.
	IPv4PerENI int
	// PrefixDelegation tells whether /28 prefixes may be assigned (Nitro).
	PrefixDelegation bool
}

// ENIRef names an attached ENI for the fabric.
type ENIRef struct {
	InstanceID  string
	ENIID       string
	DeviceIndex int
	// NetworkCard is the attachment's card; device indexes count per card.
	NetworkCard int
	MAC         net.HardwareAddr
	PrimaryIP   netip.Addr
	SubnetID    string
	SubnetCIDR  netip.Prefix
}

// Fabric is the packet side of the simulation: the kernel objects that follow
// EC2's state. The Cloud calls it with its lock held, so calls are ordered.
type Fabric interface {
	// AttachENI makes the ENI appear in the instance (device index > 0).
	AttachENI(ctx context.Context, eni ENIRef) error
	// DetachENI removes it again.
	DetachENI(ctx context.Context, eni ENIRef) error
	// Route makes the VPC deliver dst (a /32 or /28) to the ENI.
	Route(ctx context.Context, dst netip.Prefix, eni ENIRef) error
	// Unroute stops delivering dst.
	Unroute(ctx context.Context, dst netip.Prefix, eni ENIRef) error
}

// SubnetSpec is one subnet of the VPC.
type SubnetSpec struct {
	AZ   string
	CIDR netip.Prefix
}

// Config sets up a Cloud.
type Config struct {
	Region  string
	VPCCIDR netip.Prefix
	Subnets []SubnetSpec
	// Limits returns the limits of an instance type.
	Limits func(instanceType string) (Limits, error)
	// Fabric follows the state in the kernel; nil keeps the state only.
	Fabric Fabric
	Faults *faults.Faults
	Calls  *faults.Recorder
	// OnChange is called (without the lock) after every change of state.
	OnChange func()
	// DescribeDelay is how long a change takes to show in the Describe
	// calls' answers: EC2's API is eventually consistent, so a describe
	// right after an attach or an assignment may still show the state
	// before it. 0 answers from the current state. Other calls always act
	// on the current state.
	DescribeDelay time.Duration
	// DetachDelay is how long a detach takes: EC2 answers the call at once
	// and the ENI shows "detaching" until it is "available" (see
	// lifecycle.go). 0 completes the detach within the call.
	DetachDelay time.Duration
	Logger      *slog.Logger
}

// Cloud is one simulated VPC's EC2 state. It is safe for concurrent use.
type Cloud struct {
	cfg       Config
	log       *slog.Logger
	mu        sync.Mutex
	vpcID     string
	sgID      string
	subnets   []*subnet
	instances map[string]*instance
	enis      map[string]*eni
	order     []string // ENI ids in creation order, for stable answers
	macSeq    uint32
	macBase   [2]byte
	// described is what Describe calls answer from: State after every
	// change, seen DescribeDelay late. pubMu orders its versions.
	described *lag.History[State]
	pubMu     sync.Mutex
	// detachDelay is Config.DetachDelay, settable at run time (under mu).
	detachDelay time.Duration
}

type subnet struct {
	id   string
	az   string
	pool *pool
	tags map[string]string
}

type instance struct {
	id, typ, az, subnetID string
	limits                Limits
	launched              time.Time
	tags                  map[string]string
	// state is InstanceRunning, InstanceStopped or InstanceTerminated.
	state string
	// impaired: the host fails detaches that are not forced (lifecycle.go).
	impaired bool
}

type attachment struct {
	id                  string
	instanceID          string
	deviceIndex         int
	networkCard         int
	deleteOnTermination bool
	at                  time.Time
	// detaching is set once a detach began; the attachment goes when it
	// completes. unplugged: the kernel side is already gone.
	// completing: the detach will complete (it was not held up by an
	// impaired instance); it does after the detach delay.
	detaching, unplugged, completing bool
}

type eni struct {
	id, subnetID, description string
	mac                       net.HardwareAddr
	primary                   netip.Addr
	secondary                 []netip.Addr
	prefixes                  []netip.Prefix
	tags                      map[string]string
	sgs                       []string
	sourceDestCheck           bool
	att                       *attachment
}

func (e *eni) slots() int { return 1 + len(e.secondary) + len(e.prefixes) }

// plugged reports whether the ENI's kernel side is in an instance, so its
// addresses are routed to it.
func (e *eni) plugged() bool { return e.att != nil && !e.att.unplugged }

// New builds the VPC's state: the VPC, its subnets and a default security group.
func New(cfg Config) (*Cloud, error) {
	if !cfg.VPCCIDR.IsValid() || !cfg.VPCCIDR.Addr().Is4() {
		return nil, fmt.Errorf("vpc cidr %q: must be an IPv4 prefix", cfg.VPCCIDR)
	}
	if len(cfg.Subnets) == 0 {
		return nil, errors.New("subnets: at least one subnet is required")
	}
	if cfg.Limits == nil {
		return nil, errors.New("limits: an instance type lookup is required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Faults == nil {
		cfg.Faults = faults.New(1)
	}
	if cfg.Calls == nil {
		cfg.Calls = faults.NewRecorder(0)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DescribeDelay < 0 {
		return nil, fmt.Errorf("describe delay %v: must not be negative", cfg.DescribeDelay)
	}
	if cfg.DetachDelay < 0 {
		return nil, fmt.Errorf("detach delay %v: must not be negative", cfg.DetachDelay)
	}
	c := &Cloud{cfg: cfg, log: cfg.Logger, instances: map[string]*instance{}, enis: map[string]*eni{},
		vpcID: newID("vpc"), sgID: newID("sg"), described: lag.New[State](cfg.DescribeDelay, nil), detachDelay: cfg.DetachDelay}
	_, _ = rand.Read(c.macBase[:])
	for i, s := range cfg.Subnets {
		if !s.CIDR.IsValid() || s.CIDR.Bits() > 28 || s.CIDR.Bits() < 16 {
			return nil, fmt.Errorf("subnets[%d].cidr %s: must be an IPv4 prefix between /16 and /28", i, s.CIDR)
		}
		if !cfg.VPCCIDR.Contains(s.CIDR.Addr()) || s.CIDR.Bits() < cfg.VPCCIDR.Bits() {
			return nil, fmt.Errorf("subnets[%d].cidr %s: must be inside the vpc cidr %s", i, s.CIDR, cfg.VPCCIDR)
		}
		for j, o := range c.subnets {
			if o.pool.cidr.Overlaps(s.CIDR) {
				return nil, fmt.Errorf("subnets[%d].cidr %s: overlaps subnets[%d] %s", i, s.CIDR, j, o.pool.cidr)
			}
		}
		c.subnets = append(c.subnets, &subnet{id: newID("subnet"), az: s.AZ, pool: newPool(s.CIDR), tags: map[string]string{}})
	}
	c.described.Publish(c.State())
	return c, nil
}

func newID(prefix string) string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)[:17]
}

// VPCID returns the VPC's id.
func (c *Cloud) VPCID() string { return c.vpcID }

// Region returns the region the fake answers for.
func (c *Cloud) Region() string { return c.cfg.Region }

// Faults returns the fault injector the handler consults.
func (c *Cloud) Faults() *faults.Faults { return c.cfg.Faults }

// Calls returns the call log.
func (c *Cloud) Calls() *faults.Recorder { return c.cfg.Calls }

// SetDescribeDelay changes how long a change takes to show in Describe answers.
func (c *Cloud) SetDescribeDelay(d time.Duration) { c.described.SetDelay(d) }

// describedState is the state a Describe call answers from.
func (c *Cloud) describedState() State {
	st, _ := c.described.Visible()
	return st
}

func (c *Cloud) changed() {
	// The snapshot is taken under pubMu, so versions are published in the
	// order of the changes they include.
	c.pubMu.Lock()
	c.described.Publish(c.State())
	c.pubMu.Unlock()
	if c.cfg.OnChange != nil {
		c.cfg.OnChange()
	}
}

func (c *Cloud) nextMAC() net.HardwareAddr {
	c.macSeq++
	s := c.macSeq
	// 0x0e: locally administered unicast, as EC2's own MACs are.
	return net.HardwareAddr{0x0e, c.macBase[0], c.macBase[1], byte(s >> 16), byte(s >> 8), byte(s)}
}

func (c *Cloud) subnetByID(id string) *subnet {
	for _, s := range c.subnets {
		if s.id == id {
			return s
		}
	}
	return nil
}

// LaunchSpec describes an instance to launch.
type LaunchSpec struct {
	InstanceType string
	// SubnetID defaults to the first subnet.
	SubnetID string
}

// LaunchInstance creates an instance with its primary ENI (device 0) in the
// subnet. The caller builds the primary ENI's kernel side from the returned
// state, since it owns the instance's namespace; nothing goes to the Fabric.
func (c *Cloud) LaunchInstance(spec LaunchSpec) (InstanceState, error) {
	lim, err := c.cfg.Limits(spec.InstanceType)
	if err != nil {
		return InstanceState{}, fmt.Errorf("instance type %q: %w", spec.InstanceType, err)
	}
	if lim.MaxENIs < 1 || lim.IPv4PerENI < 1 {
		return InstanceState{}, fmt.Errorf("instance type %q: limits %+v allow no network interface", spec.InstanceType, lim)
	}
	c.mu.Lock()
	if len(c.subnets) == 0 {
		c.mu.Unlock()
		return InstanceState{}, errors.New("subnets: every subnet was deleted")
	}
	sn := c.subnets[0]
	if spec.SubnetID != "" {
		sn = c.subnetByID(spec.SubnetID)
		if sn == nil {
			c.mu.Unlock()
			return InstanceState{}, fmt.Errorf("subnet %q: no such subnet", spec.SubnetID)
		}
	}
	inst := &instance{id: newID("i"), typ: spec.InstanceType, az: sn.az, subnetID: sn.id, limits: lim,
		launched: time.Now().UTC(), tags: map[string]string{}, state: InstanceRunning}
	e := &eni{id: newID("eni"), subnetID: sn.id, mac: c.nextMAC(), tags: map[string]string{}, sgs: []string{c.sgID},
		sourceDestCheck: true, description: "primary network interface"}
	addrs, ok := sn.pool.takeAddrs(e.id, 1)
	if !ok {
		c.mu.Unlock()
		return InstanceState{}, fmt.Errorf("subnet %s: no free address for the primary interface", sn.pool.cidr)
	}
	e.primary = addrs[0]
	e.att = &attachment{id: newID("eni-attach"), instanceID: inst.id, deviceIndex: 0, deleteOnTermination: true, at: inst.launched}
	c.instances[inst.id] = inst
	c.enis[e.id] = e
	c.order = append(c.order, e.id)
	st := c.instanceStateLocked(inst)
	c.mu.Unlock()
	c.changed()
	return st, nil
}

func (c *Cloud) refLocked(e *eni) ENIRef {
	sn := c.subnetByID(e.subnetID)
	r := ENIRef{ENIID: e.id, MAC: e.mac, PrimaryIP: e.primary, SubnetID: e.subnetID, SubnetCIDR: sn.pool.cidr}
	if e.att != nil {
		r.InstanceID, r.DeviceIndex, r.NetworkCard = e.att.instanceID, e.att.deviceIndex, e.att.networkCard
	}
	return r
}

// routesOf lists what the fabric must route to the ENI: its secondary
// addresses and prefixes (the primary address is reached on the subnet).
func routesOf(e *eni) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(e.secondary)+len(e.prefixes))
	for _, a := range e.secondary {
		out = append(out, netip.PrefixFrom(a, 32))
	}
	return append(out, e.prefixes...)
}

// detachLocked unplugs the ENI and removes it from its instance at once:
// the undo of an attach that failed half way. A detach asked through the
// API takes time instead (beginDetachLocked).
func (c *Cloud) detachLocked(ctx context.Context, e *eni) error {
	err := c.unplugLocked(ctx, e)
	e.att = nil
	return err
}

// unplugLocked unroutes the ENI's addresses and takes its link out of the
// instance (the kernel side of a secondary ENI), once.
func (c *Cloud) unplugLocked(ctx context.Context, e *eni) error {
	if e.att == nil || e.att.unplugged {
		return nil
	}
	ref := c.refLocked(e)
	var errs []error
	if c.cfg.Fabric != nil {
		for _, p := range routesOf(e) {
			errs = append(errs, c.cfg.Fabric.Unroute(ctx, p, ref))
		}
		if e.att.deviceIndex > 0 {
			errs = append(errs, c.cfg.Fabric.DetachENI(ctx, ref))
		}
	}
	e.att.unplugged = true
	return errors.Join(errs...)
}

// deleteLocked frees the ENI's addresses and forgets it.
func (c *Cloud) deleteLocked(e *eni) {
	sn := c.subnetByID(e.subnetID)
	sn.pool.release(e.primary)
	for _, a := range e.secondary {
		sn.pool.release(a)
	}
	for _, p := range e.prefixes {
		sn.pool.releasePrefix(p)
	}
	delete(c.enis, e.id)
	for i, id := range c.order {
		if id == e.id {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
}
