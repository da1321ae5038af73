package agent_test

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/eksnet/eksnet/cni-agent/cloud"
	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/sim"
)

// imdsOf reads IMDS as the node sees it, through the simulated IMDS's HTTP
// answers.
func imdsOf(vpc *sim.VPC, node *sim.Node) cloud.Metadata {
	return cloud.Metadata{Client: imds.New(imds.Options{Endpoint: vpc.IMDSEndpoint(), HTTPClient: node.HTTPClient()})}
}

// imdsLists says whether IMDS lists address on the ENI with mac.
func imdsLists(t *testing.T, md cloud.Metadata, mac string, address netip.Addr) bool {
	t.Helper()
	_, ips, err := md.LocalIPv4s(context.Background(), mac)
	if err != nil {
		t.Fatalf("reading IMDS local-ipv4s of %s: %v", mac, err)
	}
	return slices.Contains(ips, address)
}

// macOf returns an ENI's MAC from EC2's current state (not a lagging view).
func macOf(t *testing.T, vpc *sim.VPC, node *sim.Node, eniID string) string {
	t.Helper()
	inst, _ := vpc.Cloud().Instance(node.InstanceID)
	for _, e := range inst.ENIs {
		if e.ID == eniID {
			return e.MAC
		}
	}
	t.Fatalf("ENI %s is not attached to %s in EC2", eniID, node.InstanceID)
	return ""
}

// With IMDS seconds behind EC2, every address the agent hands out is one
// IMDS already lists on the ENI the agent says it is on: on the primary ENI
// after AssignPrivateIpAddresses, and on a new ENI after its attach.
func TestNoAddressBeforeIMDSListsIt(t *testing.T) {
	vpc := newVPC(t)
	node := addNode(t, vpc, "agree", "t3.medium")
	ag := startAgent(t, node, "", map[string]string{"EKSNET_MODE": "secondary", "EKSNET_WARM_IP_TARGET": "1"})
	ag.waitFor("ready", 30*time.Second, func(s rpc.Status) bool { return s.Ready })
	vpc.SetIMDSDelay(2 * time.Second)
	vpc.SetDescribeDelay(time.Second)
	md := imdsOf(vpc, node)
	sawPending := false
	eniSeen := map[string]bool{}
	// 5 on the primary, then the second ENI's.
	for i := range 8 {
		al := ag.allocate(key(i))
		eniSeen[al.ENIID] = true
		if !imdsLists(t, md, macOf(t, vpc, node, al.ENIID), al.Address) {
			t.Fatalf("allocation %d got %s on %s before IMDS lists it there", i, al.Address, al.ENIID)
		}
		if st, err := ag.client.Status(context.Background()); err == nil && st.Pending > 0 {
			sawPending = true
		}
	}
	if len(eniSeen) < 2 {
		t.Fatalf("8 addresses came from %d ENI(s); the test wants a new ENI's too", len(eniSeen))
	}
	if !sawPending {
		t.Error("status never showed an address waiting for IMDS while IMDS lagged 2 s")
	}
}

// With IMDS and Describe both lagging, the agent returns addresses and an
// idle ENI; the reconciles that follow see the old state in both views and
// must take it for lag: nothing released comes back into the pool, and the
// returned ENI is not set up again.
func TestLaggingViewsBringNothingBack(t *testing.T) {
	vpc := newVPC(t)
	node := addNode(t, vpc, "lagviews", "t3.medium")
	ag := startAgent(t, node, "", map[string]string{
		"EKSNET_MODE": "secondary", "EKSNET_WARM_IP_TARGET": "1", "EKSNET_COOLDOWN": "0s", "EKSNET_RECONCILE_INTERVAL": "1s",
	})
	ag.waitFor("ready", 30*time.Second, func(s rpc.Status) bool { return s.Ready })
	for i := range 8 {
		ag.allocate(key(i))
	}
	ag.waitFor("two ENIs, 8 assigned and 1 warm, settled", 30*time.Second, func(s rpc.Status) bool {
		return len(s.ENIs) == 2 && s.Total == 9 && s.Pending == 0
	})
	vpc.SetIMDSDelay(3 * time.Second)
	vpc.SetDescribeDelay(2 * time.Second)
	for i := range 8 {
		if _, err := ag.client.Release(context.Background(), key(i)); err != nil {
			t.Fatal(err)
		}
	}
	// For the next 8 s (both lags, several reconciles), the pool never
	// holds more on an ENI than EC2 really assigns to it, and holds no ENI
	// that EC2 no longer attaches.
	deadline := time.Now().Add(8 * time.Second)
	shrunk := false
	for time.Now().Before(deadline) {
		before, err := ag.client.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		inst, _ := vpc.Cloud().Instance(node.InstanceID)
		after, err := ag.client.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !sameTotals(before, after) {
			continue // the agent changed something in between
		}
		inEC2 := map[string]int{}
		for _, e := range inst.ENIs {
			inEC2[e.ID] = len(e.Secondary)
		}
		for _, e := range after.ENIs {
			n, attached := inEC2[e.ID]
			if !attached {
				t.Fatalf("the pool holds ENI %s, which EC2 no longer attaches to the node (pool %+v)", e.ID, after.ENIs)
			}
			if e.Total > n {
				t.Fatalf("the pool holds %d addresses on %s, EC2 assigns %d: a lagging view brought released ones back", e.Total, e.ID, n)
			}
		}
		shrunk = shrunk || len(after.ENIs) == 1 && after.Total <= 2
		time.Sleep(100 * time.Millisecond)
	}
	if !shrunk {
		t.Fatal("the pool never returned the second ENI and the surplus addresses: nothing was tested")
	}
	differs := func() int {
		b, _ := os.ReadFile(ag.log)
		return strings.Count(string(b), "pool differs from IMDS")
	}
	before := differs()
	time.Sleep(3 * time.Second)
	if n := differs() - before; n > 0 {
		t.Errorf("%d reconciles in 3 s after the views caught up still found the pool and IMDS different", n)
	}
	for _, e := range ag.waitFor("settled", 10*time.Second, func(s rpc.Status) bool { return s.Pending == 0 }).LastErrors {
		if strings.Contains(e, "dropped") || strings.Contains(e, "setting up ENI") {
			t.Errorf("agent error under lag: %s", e)
		}
	}
	b, _ := os.ReadFile(ag.log)
	ready := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, `"msg":"ENI ready"`) {
			if i := strings.Index(l, `"eni":"`); i >= 0 {
				id := l[i+7:]
				ready[id[:strings.IndexByte(id, '"')]]++
			}
		}
	}
	for id, n := range ready {
		if n > 1 {
			t.Errorf("ENI %s was set up on the host %d times", id, n)
		}
	}
}

func sameTotals(x, y rpc.Status) bool {
	if x.Total != y.Total || len(x.ENIs) != len(y.ENIs) {
		return false
	}
	for i := range x.ENIs {
		if x.ENIs[i].ID != y.ENIs[i].ID || x.ENIs[i].Total != y.ENIs[i].Total {
			return false
		}
	}
	return true
}

// An attach whose answer is lost took effect: the agent must not send it
// again (the SDK's retry would meet its own attachment), must not delete
// or leak the ENI, and ends up using it once Describe shows the attachment.
func TestLostAttachAnswerIsNotSentAgain(t *testing.T) {
	vpc := newVPC(t)
	node := addNode(t, vpc, "lostattach", "t3.medium")
	vpc.SetDescribeDelay(time.Second)
	if err := vpc.Faults().LoseAnswer("AttachNetworkInterface"); err != nil {
		t.Fatal(err)
	}
	ag := startAgent(t, node, "", map[string]string{"EKSNET_MODE": "secondary", "EKSNET_WARM_IP_TARGET": "1"})
	ag.waitFor("ready", 30*time.Second, func(s rpc.Status) bool { return s.Ready })
	for i := range 6 {
		ag.allocate(key(i))
	}
	ag.waitFor("two ENIs", 60*time.Second, func(s rpc.Status) bool { return len(s.ENIs) == 2 && s.Free > 0 })
	_, byAction := ec2Calls(vpc)
	if n := byAction["AttachNetworkInterface"]; n != 1 {
		t.Errorf("%d AttachNetworkInterface calls for one ENI whose answer was lost, want 1", n)
	}
	if n := byAction["CreateNetworkInterface"]; n != 1 {
		t.Errorf("%d CreateNetworkInterface calls, want 1 (the first ENI is in use)", n)
	}
	if n := byAction["DeleteNetworkInterface"]; n != 0 {
		t.Errorf("%d DeleteNetworkInterface calls: the attached ENI was taken for a failed one", n)
	}
	inst, _ := vpc.Cloud().Instance(node.InstanceID)
	if len(inst.ENIs) != 2 {
		t.Fatalf("EC2 attaches %d ENIs to the node, want 2", len(inst.ENIs))
	}
	al := ag.allocate(key(6))
	if al.ENIID != inst.ENIs[1].ID && al.ENIID != inst.ENIs[0].ID {
		t.Fatalf("allocation on %s, which is not attached", al.ENIID)
	}
}
