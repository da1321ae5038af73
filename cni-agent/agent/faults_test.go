package agent_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// Throttling, 5xx and an IMDS outage at boot: the agent does not crash, its
// backoff shows in metrics, and the pool reaches its targets once the faults
// stop. Then InsufficientCidrBlocks: growth pauses (visible in metrics and
// status), the node stays NotReady (no CNI config), and recovers after.
func TestFaults(t *testing.T) {
	vpc := newVPC(t)
	node := addNode(t, vpc, "faulty", "t3.medium")
	f := vpc.Faults()
	if err := f.SetThrottleRatio(0.5); err != nil {
		t.Fatal(err)
	}
	if err := f.SetServerErrorRatio(0.2); err != nil {
		t.Fatal(err)
	}
	if err := f.SetIMDSOutage(6 * time.Second); err != nil {
		t.Fatal(err)
	}
	ag := startAgent(t, node, "", map[string]string{"EKSNET_MODE": "secondary"})
	ag.waitFor("ready despite the faults", 90*time.Second, func(s rpc.Status) bool { return s.Ready })
	for i := range 8 {
		ag.allocate(key(i))
	}
	m := ag.metrics()
	retries := 0.0
	for k, v := range m {
		if strings.HasPrefix(k, "eksnet_agent_ec2_retries_total") || strings.HasPrefix(k, "eksnet_agent_warm_pool_backoffs_total") {
			retries += v
		}
	}
	if retries == 0 || m[`eksnet_agent_warm_pool_backoffs_total{reason="imds"}`] == 0 {
		t.Fatalf("no backoff in metrics: ec2 retries + backoffs = %v, imds backoffs = %v", retries, m[`eksnet_agent_warm_pool_backoffs_total{reason="imds"}`])
	}
	if m[`eksnet_agent_ec2_retries_total{code="RequestLimitExceeded"}`] == 0 {
		t.Errorf("throttling not visible in eksnet_agent_ec2_retries_total")
	}
	f.Reset()
	// Every ENI the agent attached ends up with delete-on-termination, even
	// when setting it was throttled the first time.
	ag.waitFor("delete-on-termination on every secondary ENI", 30*time.Second, func(s rpc.Status) bool {
		for _, e := range s.ENIs {
			if !e.Primary && !deleteOnTermination(t, vpc, node, e.ID) {
				return false
			}
		}
		return true
	})
	// 8 assigned + one warm ENI (5) = 13, grown by whole ENIs: all 15.
	ag.waitFor("the warm target after the faults stop", 60*time.Second, func(s rpc.Status) bool {
		return s.Assigned == 8 && s.Total == 15 && len(s.ENIs) == 3
	})
	ag.alive()

	// A second node in prefix mode while the subnet has no /28 left.
	if err := f.SetInsufficientCidrBlocks(true); err != nil {
		t.Fatal(err)
	}
	pdNode := addNode(t, vpc, "nocidr", "t3.medium")
	pd := startAgent(t, pdNode, "", map[string]string{"EKSNET_MODE": "prefix"})
	st := pd.waitFor("the out-of-addresses pause", 30*time.Second, func(s rpc.Status) bool {
		for _, e := range s.LastErrors {
			if strings.Contains(e, "InsufficientCidrBlocks") {
				return true
			}
		}
		return false
	})
	if st.Ready || st.Total != 0 {
		t.Fatalf("ready with no prefix: %+v", st)
	}
	if v := pd.metrics()[`eksnet_agent_warm_pool_backoffs_total{reason="out_of_addresses"}`]; v == 0 {
		t.Fatal("the out-of-addresses pause is not in metrics")
	}
	// Paused: a few seconds bring at most a couple of further attempts.
	before := vpc.Calls().Count("AssignPrivateIpAddresses", "InsufficientCidrBlocks")
	time.Sleep(3 * time.Second)
	if after := vpc.Calls().Count("AssignPrivateIpAddresses", "InsufficientCidrBlocks"); after-before > 2 {
		t.Fatalf("%d prefix requests in 3s while paused", after-before)
	}
	if _, err := os.Stat(filepath.Join(pd.dir, "net.d", "10-eksnet.conflist")); err == nil {
		t.Fatal("CNI configuration installed on a node that cannot give pods addresses")
	}
	if err := f.SetInsufficientCidrBlocks(false); err != nil {
		t.Fatal(err)
	}
	pd.waitFor("recovery after the subnet has room again", 60*time.Second, func(s rpc.Status) bool { return s.Ready && s.Total == 16 })
	pd.waitFor("the conflist", 10*time.Second, func(rpc.Status) bool {
		_, err := os.Stat(filepath.Join(pd.dir, "net.d", "10-eksnet.conflist"))
		return err == nil
	})
	pd.alive()
}
