package fakeec2

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestAttachLimitsPerNetworkCard: as EC2 does on multi-card types, the ENI
// limit and the device indexes count per network card, NetworkCardIndex
// must name one of the type's cards, and describe reports the card.
func TestAttachLimitsPerNetworkCard(t *testing.T) {
	cloud, err := New(Config{VPCCIDR: netip.MustParsePrefix("10.0.0.0/16"),
		Subnets: []SubnetSpec{{AZ: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.0.0/24")}},
		Limits: func(typ string) (Limits, error) {
			switch typ {
			case "p5.test":
				return Limits{MaxENIs: 2, NetworkCards: 2, IPv4PerENI: 10, PrefixDelegation: true}, nil
			case "t3.medium":
				return Limits{MaxENIs: 3, IPv4PerENI: 6, PrefixDelegation: true}, nil
			}
			return Limits{}, errors.New("unknown type")
		}})
	if err != nil {
		t.Fatal(err)
	}
	c := sdkClient(t, cloud)
	ctx := context.Background()
	multi, err := cloud.LaunchInstance(LaunchSpec{InstanceType: "p5.test"})
	if err != nil {
		t.Fatal(err)
	}
	single, err := cloud.LaunchInstance(LaunchSpec{InstanceType: "t3.medium"})
	if err != nil {
		t.Fatal(err)
	}
	subnet := cloud.State().Subnets[0].ID
	attach := func(inst string, card, dev int) (string, error) {
		t.Helper()
		out, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet)})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(out.NetworkInterface.NetworkInterfaceId)
		att, err := c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: aws.String(id),
			InstanceId: aws.String(inst), DeviceIndex: aws.Int32(int32(dev)), NetworkCardIndex: aws.Int32(int32(card))})
		if err == nil && aws.ToInt32(att.NetworkCardIndex) != int32(card) {
			t.Errorf("attach on card %d answered card %d", card, aws.ToInt32(att.NetworkCardIndex))
		}
		return id, err
	}
	for _, tc := range []struct {
		inst      string
		card, dev int
		code, msg string
	}{
		{multi.ID, 0, 1, "", ""},
		{multi.ID, 0, 2, "AttachmentLimitExceeded", "on network card 0"}, // primary + 1 = card 0's 2
		{multi.ID, 1, 1, "", ""}, // device 1 again: another card
		{multi.ID, 1, 2, "", ""},
		{multi.ID, 1, 3, "AttachmentLimitExceeded", "on network card 1"},
		{multi.ID, 2, 1, "InvalidParameterValue", "2 network card(s), 0 to 1"},
		{single.ID, 1, 1, "InvalidParameterValue", "1 network card(s), 0 to 0"},
	} {
		_, err := attach(tc.inst, tc.card, tc.dev)
		if code(err) != tc.code || err != nil && !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("attach to %s card %d device %d: %v, want code %q saying %q", tc.inst, tc.card, tc.dev, err, tc.code, tc.msg)
		}
	}
	out, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{
		{Name: aws.String("attachment.instance-id"), Values: []string{multi.ID}}}})
	if err != nil {
		t.Fatal(err)
	}
	perCard := map[int32]int{}
	for _, ni := range out.NetworkInterfaces {
		perCard[aws.ToInt32(ni.Attachment.NetworkCardIndex)]++
	}
	if perCard[0] != 2 || perCard[1] != 2 || len(perCard) != 2 {
		t.Errorf("described ENIs per card = %v, want 2 on card 0 and 2 on card 1", perCard)
	}
}
