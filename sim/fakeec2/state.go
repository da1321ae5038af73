package fakeec2

import (
	"maps"
	"net/netip"
	"slices"
	"time"
)

// State is a consistent copy of the whole VPC, for IMDS, status output and
// tests that assert on EC2's view rather than on what an API call returned.
type State struct {
	Region          string          `json:"region"`
	VPCID           string          `json:"vpcId"`
	VPCCIDR         netip.Prefix    `json:"vpcCidr"`
	SecurityGroupID string          `json:"securityGroupId"`
	Subnets         []SubnetState   `json:"subnets"`
	Instances       []InstanceState `json:"instances"`
	// ENIs lists every ENI, attached or not, in creation order.
	ENIs []ENIState `json:"enis"`
}

// SubnetState is one subnet.
type SubnetState struct {
	ID        string            `json:"id"`
	AZ        string            `json:"az"`
	CIDR      netip.Prefix      `json:"cidr"`
	Available int               `json:"availableIpAddressCount"`
	Tags      map[string]string `json:"tags,omitempty"`
}

// InstanceState is one instance and its attached ENIs by device index.
type InstanceState struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	AZ         string    `json:"az"`
	SubnetID   string    `json:"subnetId"`
	Limits     Limits    `json:"limits"`
	LaunchTime time.Time `json:"launchTime"`
	// State is InstanceRunning, InstanceStopped or InstanceTerminated.
	State string            `json:"state"`
	ENIs  []ENIState        `json:"enis"`
	Tags  map[string]string `json:"tags,omitempty"`
}

// Primary returns the instance's device-0 ENI.
func (s InstanceState) Primary() ENIState {
	for _, e := range s.ENIs {
		if e.DeviceIndex == 0 {
			return e
		}
	}
	return ENIState{}
}

// ENIState is one network interface.
type ENIState struct {
	ID              string            `json:"id"`
	SubnetID        string            `json:"subnetId"`
	SubnetCIDR      netip.Prefix      `json:"subnetCidr"`
	AZ              string            `json:"az"`
	Description     string            `json:"description,omitempty"`
	MAC             string            `json:"mac"`
	PrimaryIP       netip.Addr        `json:"primaryIp"`
	Secondary       []netip.Addr      `json:"secondaryIps,omitempty"`
	Prefixes        []netip.Prefix    `json:"prefixes,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
	SecurityGroups  []string          `json:"securityGroups"`
	SourceDestCheck bool              `json:"sourceDestCheck"`
	// Status is available, in-use or detaching (EC2's names).
	Status string `json:"status"`
	// AttachmentStatus is attached or detaching; "" without an attachment.
	AttachmentStatus    string    `json:"attachmentStatus,omitempty"`
	InstanceID          string    `json:"instanceId,omitempty"`
	AttachmentID        string    `json:"attachmentId,omitempty"`
	DeviceIndex         int       `json:"deviceIndex"`
	NetworkCardIndex    int       `json:"networkCardIndex"`
	DeleteOnTermination bool      `json:"deleteOnTermination"`
	AttachTime          time.Time `json:"attachTime,omitzero"`
}

// State returns a copy of the VPC's state.
func (c *Cloud) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := State{Region: c.cfg.Region, VPCID: c.vpcID, VPCCIDR: c.cfg.VPCCIDR, SecurityGroupID: c.sgID}
	for _, s := range c.subnets {
		st.Subnets = append(st.Subnets, c.subnetStateLocked(s))
	}
	ids := slices.Sorted(maps.Keys(c.instances))
	for _, id := range ids {
		st.Instances = append(st.Instances, c.instanceStateLocked(c.instances[id]))
	}
	for _, id := range c.order {
		st.ENIs = append(st.ENIs, c.eniStateLocked(c.enis[id]))
	}
	return st
}

// Instance returns one instance's state.
func (c *Cloud) Instance(id string) (InstanceState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst, ok := c.instances[id]
	if !ok {
		return InstanceState{}, false
	}
	return c.instanceStateLocked(inst), true
}

func (c *Cloud) subnetStateLocked(s *subnet) SubnetState {
	return SubnetState{ID: s.id, AZ: s.az, CIDR: s.pool.cidr, Available: s.pool.free(), Tags: maps.Clone(s.tags)}
}

func (c *Cloud) instanceStateLocked(inst *instance) InstanceState {
	st := InstanceState{ID: inst.id, Type: inst.typ, AZ: inst.az, SubnetID: inst.subnetID, Limits: inst.limits,
		LaunchTime: inst.launched, State: inst.state, Tags: maps.Clone(inst.tags)}
	for _, id := range c.order {
		e := c.enis[id]
		if e.att != nil && e.att.instanceID == inst.id {
			st.ENIs = append(st.ENIs, c.eniStateLocked(e))
		}
	}
	slices.SortFunc(st.ENIs, func(a, b ENIState) int { return a.DeviceIndex - b.DeviceIndex })
	return st
}

func (c *Cloud) eniStateLocked(e *eni) ENIState {
	sn := c.subnetByID(e.subnetID)
	st := ENIState{ID: e.id, SubnetID: e.subnetID, SubnetCIDR: sn.pool.cidr, AZ: sn.az, Description: e.description,
		MAC: e.mac.String(), PrimaryIP: e.primary, Secondary: slices.Clone(e.secondary), Prefixes: slices.Clone(e.prefixes),
		Tags: maps.Clone(e.tags), SecurityGroups: slices.Clone(e.sgs), SourceDestCheck: e.sourceDestCheck, Status: "available"}
	if e.att != nil {
		st.Status, st.AttachmentStatus = "in-use", "attached"
		if e.att.detaching {
			st.Status, st.AttachmentStatus = "detaching", "detaching"
		}
		st.InstanceID, st.AttachmentID, st.DeviceIndex, st.NetworkCardIndex = e.att.instanceID, e.att.id, e.att.deviceIndex, e.att.networkCard
		st.DeleteOnTermination, st.AttachTime = e.att.deleteOnTermination, e.att.at
	}
	return st
}
