package fakeec2

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// The x* types are the XML shapes aws-sdk-go-v2's ec2query deserializers read.

const ownerID = "111122223333"

type xTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type xGroup struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type xPrivateIP struct {
	PrivateIPAddress string `xml:"privateIpAddress"`
	Primary          bool   `xml:"primary"`
}

type xPrefix struct {
	IPv4Prefix string `xml:"ipv4Prefix"`
}

type xAttachment struct {
	AttachmentID        string `xml:"attachmentId"`
	InstanceID          string `xml:"instanceId,omitempty"`
	InstanceOwnerID     string `xml:"instanceOwnerId,omitempty"`
	DeviceIndex         int    `xml:"deviceIndex"`
	NetworkCardIndex    int    `xml:"networkCardIndex"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type xENI struct {
	NetworkInterfaceID string       `xml:"networkInterfaceId"`
	SubnetID           string       `xml:"subnetId"`
	VPCID              string       `xml:"vpcId"`
	AvailabilityZone   string       `xml:"availabilityZone,omitempty"`
	Description        string       `xml:"description"`
	OwnerID            string       `xml:"ownerId"`
	RequesterManaged   bool         `xml:"requesterManaged"`
	Status             string       `xml:"status"`
	MACAddress         string       `xml:"macAddress"`
	PrivateIPAddress   string       `xml:"privateIpAddress"`
	PrivateDNSName     string       `xml:"privateDnsName"`
	SourceDestCheck    bool         `xml:"sourceDestCheck"`
	InterfaceType      string       `xml:"interfaceType"`
	Groups             []xGroup     `xml:"groupSet>item"`
	Attachment         *xAttachment `xml:"attachment,omitempty"`
	PrivateIPs         []xPrivateIP `xml:"privateIpAddressesSet>item"`
	Prefixes           []xPrefix    `xml:"ipv4PrefixSet>item"`
	Tags               []xTag       `xml:"tagSet>item"`
}

type xState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type xPlacement struct {
	AvailabilityZone string `xml:"availabilityZone"`
	Tenancy          string `xml:"tenancy"`
}

type xInstance struct {
	InstanceID        string     `xml:"instanceId"`
	ImageID           string     `xml:"imageId"`
	State             xState     `xml:"instanceState"`
	PrivateDNSName    string     `xml:"privateDnsName"`
	InstanceType      string     `xml:"instanceType"`
	LaunchTime        string     `xml:"launchTime"`
	Placement         xPlacement `xml:"placement"`
	SubnetID          string     `xml:"subnetId"`
	VPCID             string     `xml:"vpcId"`
	PrivateIPAddress  string     `xml:"privateIpAddress"`
	SourceDestCheck   bool       `xml:"sourceDestCheck"`
	Groups            []xGroup   `xml:"groupSet>item"`
	Architecture      string     `xml:"architecture"`
	NetworkInterfaces []xENI     `xml:"networkInterfaceSet>item"`
	Tags              []xTag     `xml:"tagSet>item"`
}

type xReservation struct {
	ReservationID string      `xml:"reservationId"`
	OwnerID       string      `xml:"ownerId"`
	Instances     []xInstance `xml:"instancesSet>item"`
}

type xSubnet struct {
	SubnetID                string `xml:"subnetId"`
	SubnetArn               string `xml:"subnetArn"`
	State                   string `xml:"state"`
	VPCID                   string `xml:"vpcId"`
	OwnerID                 string `xml:"ownerId"`
	CIDRBlock               string `xml:"cidrBlock"`
	AvailableIPAddressCount int    `xml:"availableIpAddressCount"`
	AvailabilityZone        string `xml:"availabilityZone"`
	DefaultForAz            bool   `xml:"defaultForAz"`
	MapPublicIPOnLaunch     bool   `xml:"mapPublicIpOnLaunch"`
	Tags                    []xTag `xml:"tagSet>item"`
}

func awsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func xTags(m map[string]string) []xTag {
	out := make([]xTag, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, xTag{Key: k, Value: m[k]})
	}
	return out
}

func privateDNS(e ENIState) string {
	if !e.PrimaryIP.Is4() {
		return "" // a terminated instance has no primary ENI any more
	}
	a := e.PrimaryIP.As4()
	return fmt.Sprintf("ip-%d-%d-%d-%d.ec2.internal", a[0], a[1], a[2], a[3])
}

func toXENI(e ENIState, vpcID string) xENI {
	x := xENI{NetworkInterfaceID: e.ID, SubnetID: e.SubnetID, VPCID: vpcID, AvailabilityZone: e.AZ,
		Description: e.Description, OwnerID: ownerID, Status: e.Status, MACAddress: e.MAC,
		PrivateIPAddress: e.PrimaryIP.String(), PrivateDNSName: privateDNS(e), SourceDestCheck: e.SourceDestCheck,
		InterfaceType: "interface", Tags: xTags(e.Tags)}
	for _, g := range e.SecurityGroups {
		x.Groups = append(x.Groups, xGroup{GroupID: g, GroupName: "default"})
	}
	x.PrivateIPs = append(x.PrivateIPs, xPrivateIP{PrivateIPAddress: e.PrimaryIP.String(), Primary: true})
	for _, a := range e.Secondary {
		x.PrivateIPs = append(x.PrivateIPs, xPrivateIP{PrivateIPAddress: a.String()})
	}
	for _, p := range e.Prefixes {
		x.Prefixes = append(x.Prefixes, xPrefix{IPv4Prefix: p.String()})
	}
	if e.AttachmentID != "" {
		x.Attachment = &xAttachment{AttachmentID: e.AttachmentID, InstanceID: e.InstanceID, InstanceOwnerID: ownerID,
			DeviceIndex: e.DeviceIndex, NetworkCardIndex: e.NetworkCardIndex, Status: e.AttachmentStatus, AttachTime: awsTime(e.AttachTime),
			DeleteOnTermination: e.DeleteOnTermination}
	}
	return x
}

func toXInstance(i InstanceState, vpcID string) xInstance {
	p := i.Primary()
	x := xInstance{InstanceID: i.ID, ImageID: "ami-0eksnetsim000000", State: xState{Code: instanceStateCode(i.State), Name: i.State},
		PrivateDNSName: privateDNS(p), InstanceType: i.Type, LaunchTime: awsTime(i.LaunchTime),
		Placement: xPlacement{AvailabilityZone: i.AZ, Tenancy: "default"}, SubnetID: i.SubnetID, VPCID: vpcID,
		SourceDestCheck: p.SourceDestCheck, Architecture: "x86_64", Tags: xTags(i.Tags)}
	if p.PrimaryIP.IsValid() {
		x.PrivateIPAddress = p.PrimaryIP.String()
	}
	for _, g := range p.SecurityGroups {
		x.Groups = append(x.Groups, xGroup{GroupID: g, GroupName: "default"})
	}
	for _, e := range i.ENIs {
		x.NetworkInterfaces = append(x.NetworkInterfaces, toXENI(e, vpcID))
	}
	return x
}
