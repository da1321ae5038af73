package fakeec2

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// DescribeInstances: InstanceId.N and the instance-id filter.
func (c *Cloud) describeInstances(_ context.Context, p params) (any, error) {
	st := c.describedState()
	ids := p.list("InstanceId")
	for _, id := range ids {
		if !slices.ContainsFunc(st.Instances, func(i InstanceState) bool { return i.ID == id }) {
			return nil, apiErr("InvalidInstanceID.NotFound", "the instance ID '%s' does not exist", id)
		}
	}
	var out []xReservation
	for _, inst := range st.Instances {
		if len(ids) > 0 && !slices.Contains(ids, inst.ID) {
			continue
		}
		ok, err := matchAll(p.filters(), func(name string) ([]string, bool) {
			switch {
			case name == "instance-id":
				return []string{inst.ID}, true
			case name == "instance-type":
				return []string{inst.Type}, true
			case name == "availability-zone":
				return []string{inst.AZ}, true
			case name == "subnet-id":
				return []string{inst.SubnetID}, true
			case name == "vpc-id":
				return []string{st.VPCID}, true
			case name == "private-ip-address":
				if p := inst.Primary(); p.PrimaryIP.IsValid() {
					return []string{p.PrimaryIP.String()}, true
				}
				return nil, true
			case name == "instance-state-name":
				return []string{inst.State}, true
			case name == "instance-state-code":
				return []string{strconv.Itoa(instanceStateCode(inst.State))}, true
			}
			return tagFilter(name, inst.Tags)
		})
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, xReservation{ReservationID: "r-" + strings.TrimPrefix(inst.ID, "i-"), OwnerID: ownerID,
				Instances: []xInstance{toXInstance(inst, st.VPCID)}})
		}
	}
	pg, next, err := page(p, out)
	if err != nil {
		return nil, err
	}
	return struct {
		Reservations []xReservation `xml:"reservationSet>item"`
		NextToken    string         `xml:"nextToken,omitempty"`
	}{pg, next}, nil
}

// DescribeNetworkInterfaces: NetworkInterfaceId.N and the filters an agent uses.
func (c *Cloud) describeNetworkInterfaces(_ context.Context, p params) (any, error) {
	st := c.describedState()
	ids := p.list("NetworkInterfaceId")
	for _, id := range ids {
		if !slices.ContainsFunc(st.ENIs, func(e ENIState) bool { return e.ID == id }) {
			return nil, apiErr("InvalidNetworkInterfaceID.NotFound", "the networkInterface ID '%s' does not exist", id)
		}
	}
	var out []xENI
	for _, e := range st.ENIs {
		if len(ids) > 0 && !slices.Contains(ids, e.ID) {
			continue
		}
		ok, err := matchAll(p.filters(), func(name string) ([]string, bool) { return eniField(e, st.VPCID, name) })
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, toXENI(e, st.VPCID))
		}
	}
	pg, next, err := page(p, out)
	if err != nil {
		return nil, err
	}
	return struct {
		ENIs      []xENI `xml:"networkInterfaceSet>item"`
		NextToken string `xml:"nextToken,omitempty"`
	}{pg, next}, nil
}

// eniField returns the values a DescribeNetworkInterfaces filter matches on.
func eniField(e ENIState, vpcID, name string) ([]string, bool) {
	switch name {
	case "network-interface-id":
		return []string{e.ID}, true
	case "subnet-id":
		return []string{e.SubnetID}, true
	case "vpc-id":
		return []string{vpcID}, true
	case "status":
		return []string{e.Status}, true
	case "availability-zone":
		return []string{e.AZ}, true
	case "mac-address":
		return []string{e.MAC}, true
	case "description":
		return []string{e.Description}, true
	case "attachment.instance-id":
		return []string{e.InstanceID}, true
	case "attachment.attachment-id":
		return []string{e.AttachmentID}, true
	case "attachment.device-index":
		if e.AttachmentID == "" {
			return nil, true
		}
		return []string{strconv.Itoa(e.DeviceIndex)}, true
	case "attachment.status":
		if e.AttachmentID == "" {
			return nil, true
		}
		return []string{e.AttachmentStatus}, true
	case "private-ip-address", "addresses.private-ip-address":
		v := []string{e.PrimaryIP.String()}
		for _, a := range e.Secondary {
			v = append(v, a.String())
		}
		return v, true
	case "ipv4-prefix.ipv4-prefix":
		var v []string
		for _, pf := range e.Prefixes {
			v = append(v, pf.String())
		}
		return v, true
	}
	return tagFilter(name, e.Tags)
}

// tagFilter handles tag:KEY and tag-key; ok is false for unknown filters.
func tagFilter(name string, tags map[string]string) ([]string, bool) {
	if k, ok := strings.CutPrefix(name, "tag:"); ok {
		v, has := tags[k]
		if !has {
			return nil, true
		}
		return []string{v}, true
	}
	if name == "tag-key" {
		keys := make([]string, 0, len(tags))
		for k := range tags {
			keys = append(keys, k)
		}
		return keys, true
	}
	return nil, false
}

// matchAll applies EC2 filter semantics: every filter must match (AND), a
// filter matches when any of its values equals any field value (OR), and a
// value may use * and ? wildcards. Unknown filter names are an error.
func matchAll(fs []filter, field func(name string) ([]string, bool)) (bool, error) {
	for _, f := range fs {
		if f.name == "" {
			return false, apiErr("InvalidParameterValue", "a filter has no name")
		}
		have, known := field(f.name)
		if !known {
			return false, apiErr("InvalidParameterValue", "the filter '%s' is invalid", f.name)
		}
		if !anyMatch(f.values, have) {
			return false, nil
		}
	}
	return true, nil
}

func anyMatch(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if wildcard(p, v) {
				return true
			}
		}
	}
	return false
}

// wildcard matches s against p where * is any run and ? is one character.
func wildcard(p, s string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if wildcard(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && wildcard(p[1:], s[1:])
	}
	return s != "" && s[0] == p[0] && wildcard(p[1:], s[1:])
}

// DescribeSubnets: SubnetId.N and filters.
func (c *Cloud) describeSubnets(_ context.Context, p params) (any, error) {
	st := c.describedState()
	ids := p.list("SubnetId")
	for _, id := range ids {
		if !slices.ContainsFunc(st.Subnets, func(s SubnetState) bool { return s.ID == id }) {
			return nil, apiErr("InvalidSubnetID.NotFound", "the subnet ID '%s' does not exist", id)
		}
	}
	var out []xSubnet
	for _, s := range st.Subnets {
		if len(ids) > 0 && !slices.Contains(ids, s.ID) {
			continue
		}
		ok, err := matchAll(p.filters(), func(name string) ([]string, bool) {
			switch name {
			case "subnet-id":
				return []string{s.ID}, true
			case "vpc-id":
				return []string{st.VPCID}, true
			case "availability-zone":
				return []string{s.AZ}, true
			case "cidr-block", "cidr":
				return []string{s.CIDR.String()}, true
			case "state":
				return []string{"available"}, true
			}
			return tagFilter(name, s.Tags)
		})
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, xSubnet{SubnetID: s.ID, SubnetArn: fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", st.Region, ownerID, s.ID),
				State: "available", VPCID: st.VPCID, OwnerID: ownerID, CIDRBlock: s.CIDR.String(),
				AvailableIPAddressCount: s.Available, AvailabilityZone: s.AZ, Tags: xTags(s.Tags)})
		}
	}
	pg, next, err := page(p, out)
	if err != nil {
		return nil, err
	}
	return struct {
		Subnets   []xSubnet `xml:"subnetSet>item"`
		NextToken string    `xml:"nextToken,omitempty"`
	}{pg, next}, nil
}

// CreateTags: ResourceId.N (ENIs, instances, subnets) and Tag.N.
func (c *Cloud) createTags(_ context.Context, p params) (any, error) {
	ids := p.list("ResourceId")
	if len(ids) == 0 {
		return nil, apiErr("MissingParameter", "the request must contain the parameter ResourceId")
	}
	tags, err := p.tags("Tag")
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, apiErr("MissingParameter", "the request must contain the parameter Tag")
	}
	c.mu.Lock()
	targets := make([]map[string]string, 0, len(ids))
	for _, id := range ids {
		m, err := c.tagsOfLocked(id)
		if err != nil {
			c.mu.Unlock()
			return nil, err
		}
		targets = append(targets, m)
	}
	for _, m := range targets {
		for k, v := range tags {
			m[k] = v
		}
	}
	c.mu.Unlock()
	c.changed()
	return struct {
		Return bool `xml:"return"`
	}{true}, nil
}

func (c *Cloud) tagsOfLocked(id string) (map[string]string, error) {
	switch {
	case strings.HasPrefix(id, "eni-"):
		if e, ok := c.enis[id]; ok {
			return e.tags, nil
		}
		return nil, apiErr("InvalidNetworkInterfaceID.NotFound", "the networkInterface ID '%s' does not exist", id)
	case strings.HasPrefix(id, "i-"):
		if i, ok := c.instances[id]; ok {
			return i.tags, nil
		}
		return nil, apiErr("InvalidInstanceID.NotFound", "the instance ID '%s' does not exist", id)
	case strings.HasPrefix(id, "subnet-"):
		if s := c.subnetByID(id); s != nil {
			return s.tags, nil
		}
		return nil, apiErr("InvalidSubnetID.NotFound", "the subnet ID '%s' does not exist", id)
	}
	return nil, apiErr("InvalidID", "the ID '%s' is not valid", id)
}
