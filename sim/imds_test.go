package sim_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/eksnet/eksnet/sim"
)

func getMeta(ctx context.Context, c *imds.Client, path string) (string, error) {
	out, err := c.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
	if err != nil {
		return "", err
	}
	defer out.Content.Close()
	b, err := io.ReadAll(out.Content)
	return string(b), err
}

func mustMeta(t *testing.T, ctx context.Context, c *imds.Client, path string) string {
	t.Helper()
	v, err := getMeta(ctx, c, path)
	if err != nil {
		t.Fatalf("imds %s: %v", path, err)
	}
	return v
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func TestIMDSWithRealSDK(t *testing.T) {
	vpc := newVPC(t, sim.Config{})
	n0 := addNode(t, vpc, sim.NodeSpec{Name: "node-0", InstanceType: "m5.large"})
	n1 := addNode(t, vpc, sim.NodeSpec{Name: "node-1", InstanceType: "t3.medium", Subnet: "us-east-1b"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c0, c1 := imdsFrom(vpc, n0), imdsFrom(vpc, n1)
	st := vpc.Cloud().State()

	t.Run("IMDSv1Refused", func(t *testing.T) {
		resp, err := n0.HTTPClient().Get(vpc.IMDSEndpoint() + "/latest/meta-data/instance-id")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("IMDSv1 GET answered %d, want 401", resp.StatusCode)
		}
		req, _ := http.NewRequest(http.MethodGet, vpc.IMDSEndpoint()+"/latest/meta-data/instance-id", nil)
		req.Header.Set("X-aws-ec2-metadata-token", "forged")
		resp, err = n0.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET with a forged token answered %d, want 401", resp.StatusCode)
		}
	})

	t.Run("InstancePaths", func(t *testing.T) {
		for _, tc := range []struct {
			c     *imds.Client
			n     *sim.Node
			az    string
			itype string
		}{{c0, n0, "us-east-1a", "m5.large"}, {c1, n1, "us-east-1b", "t3.medium"}} {
			want := map[string]string{
				"instance-id": tc.n.InstanceID, "instance-type": tc.itype, "mac": tc.n.PrimaryMAC.String(),
				"local-ipv4": tc.n.PrimaryIP.String(), "placement/availability-zone": tc.az,
				"network/interfaces/macs/": tc.n.PrimaryMAC.String() + "/",
			}
			for path, v := range want {
				if got := mustMeta(t, ctx, tc.c, path); got != v {
					t.Errorf("%s %s = %q, want %q", tc.n.Name, path, got, v)
				}
			}
		}
		if _, err := getMeta(ctx, c0, "no/such/path"); httpStatus(err) != http.StatusNotFound {
			t.Fatalf("unknown path: %v, want 404", err)
		}
	})

	t.Run("PerMACFollowsEC2", func(t *testing.T) {
		c := ec2From(vpc, n0)
		e := must(c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(st.Subnets[0].ID)})).ok(t).NetworkInterface
		must(c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: e.NetworkInterfaceId,
			InstanceId: aws.String(n0.InstanceID), DeviceIndex: aws.Int32(1)})).ok(t)
		a := must(c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: e.NetworkInterfaceId,
			SecondaryPrivateIpAddressCount: aws.Int32(2)})).ok(t)
		p := must(c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: e.NetworkInterfaceId,
			Ipv4PrefixCount: aws.Int32(1)})).ok(t)
		mac := aws.ToString(e.MacAddress)
		macs := strings.Split(mustMeta(t, ctx, c0, "network/interfaces/macs/"), "\n")
		if !slices.Contains(macs, mac+"/") || len(macs) != 2 {
			t.Fatalf("macs = %v, want the primary and %s", macs, mac)
		}
		base := "network/interfaces/macs/" + mac + "/"
		want := map[string]string{
			"device-number": "1", "network-card": "0", "interface-id": aws.ToString(e.NetworkInterfaceId),
			"subnet-id": st.Subnets[0].ID, "vpc-id": st.VPCID, "security-group-ids": st.SecurityGroupID,
			"local-ipv4s": strings.Join([]string{aws.ToString(e.PrivateIpAddress),
				aws.ToString(a.AssignedPrivateIpAddresses[0].PrivateIpAddress), aws.ToString(a.AssignedPrivateIpAddresses[1].PrivateIpAddress)}, "\n"),
			"ipv4-prefix":            aws.ToString(p.AssignedIpv4Prefixes[0].Ipv4Prefix),
			"subnet-ipv4-cidr-block": "10.0.0.0/24", "vpc-ipv4-cidr-blocks": "10.0.0.0/16",
		}
		for k, v := range want {
			if got := mustMeta(t, ctx, c0, base+k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		// node-1 sees none of it: IMDS tells instances apart by source address.
		if got := mustMeta(t, ctx, c1, "network/interfaces/macs/"); strings.Contains(got, mac) {
			t.Fatalf("node-1 sees node-0's ENI: %q", got)
		}
		// Propagation delay: a change shows only after the delay.
		vpc.SetIMDSDelay(300 * time.Millisecond)
		defer vpc.SetIMDSDelay(0)
		must(c.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: e.NetworkInterfaceId,
			Ipv4Prefixes: []string{aws.ToString(p.AssignedIpv4Prefixes[0].Ipv4Prefix)}})).ok(t)
		if got := mustMeta(t, ctx, c0, base+"ipv4-prefix"); got != want["ipv4-prefix"] {
			t.Fatalf("ipv4-prefix right after unassign = %q, want the stale %q", got, want["ipv4-prefix"])
		}
		time.Sleep(400 * time.Millisecond)
		if _, err := getMeta(ctx, c0, base+"ipv4-prefix"); httpStatus(err) != http.StatusNotFound {
			t.Fatalf("ipv4-prefix after the delay: %v, want 404", err)
		}
	})

	t.Run("Outage", func(t *testing.T) {
		if err := vpc.Faults().SetIMDSOutage(time.Minute); err != nil {
			t.Fatal(err)
		}
		_, err := getMeta(ctx, c0, "instance-id")
		if err == nil {
			t.Fatal("IMDS answered during an outage")
		}
		_ = vpc.Faults().SetIMDSOutage(0)
		mustMeta(t, ctx, c0, "instance-id")
	})

	if got := vpc.Calls().ByCode["401"]; got < 2 {
		t.Errorf("call log counted %d IMDS 401s, want >= 2", got)
	}
}
