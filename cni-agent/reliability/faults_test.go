package reliability

import (
	"context"
	"testing"
	"time"
)

// TestCloudFaults runs the node through what a bad day in a region looks
// like, in the simulated EC2 and IMDS: a 30 s IMDS outage as the agent
// starts; then, while 60 pods are ADDed 8 at a time, half of all EC2 calls
// throttled with 500 ms latency on every answer, InsufficientCidrBlocks on
// every /28 request until the agent has run into it, and bursts of 5xx. In the end
// every pod is wired and reachable, no address is held twice or leaked, the
// agent never exited, and its backoff shows in the metrics.
func TestCloudFaults(t *testing.T) {
	c := newCluster(t)
	f := c.VPC().Faults()
	t.Cleanup(f.Reset)
	n := addNode(t, c, "faults", "t3.medium", map[string]string{"EKSNET_MODE": "prefix"})

	if err := f.SetIMDSOutage(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	start(t, n, 2*time.Minute)
	m := metrics(t, n)
	if v := m[`eksnet_agent_warm_pool_backoffs_total{reason="imds"}`]; v == 0 {
		t.Errorf("the IMDS outage left no backoff in the metrics")
	}

	if err := f.SetThrottleRatio(0.5); err != nil {
		t.Fatal(err)
	}
	if err := f.SetLatency(500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := f.SetInsufficientCidrBlocks(true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pods := newPods(t, n, "f", 60)
	type result struct {
		retries int
		err     error
	}
	done := make(chan result, 1)
	go func() {
		r, err := storm(ctx, n, pods, 8, nil)
		done <- result{r, err}
	}()
	// The subnet "runs out" until the agent has hit it at least once (the
	// pool must grow past its first two /28s for the 60 pods), then 5xx
	// comes in 2 s bursts.
	deadline := time.Now().Add(60 * time.Second)
	for metrics(t, n)[`eksnet_agent_warm_pool_backoffs_total{reason="out_of_addresses"}`] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the agent never met InsufficientCidrBlocks in 60 s, or never counted it in its metrics")
		}
		time.Sleep(500 * time.Millisecond)
	}
	chaos := []struct {
		after time.Duration
		apply func() error
	}{
		{0, func() error { return f.SetInsufficientCidrBlocks(false) }},
		{0, func() error { return f.SetServerErrorRatio(0.6) }},
		{2 * time.Second, func() error { return f.SetServerErrorRatio(0) }},
		{2 * time.Second, func() error { return f.SetServerErrorRatio(0.6) }},
		{2 * time.Second, func() error { return f.SetServerErrorRatio(0) }},
	}
	for _, step := range chaos {
		time.Sleep(step.after)
		if err := step.apply(); err != nil {
			t.Fatal(err)
		}
	}
	// Throttling and latency stay until the storm is through.
	r := <-done
	f.Reset()
	if r.err != nil {
		t.Fatalf("storm under faults: %v", r.err)
	}
	t.Logf("60 pods wired under faults; %d ADDs answered try-again-later or failed and were retried", r.retries)
	if n.Starts() != 1 || !n.Running() {
		t.Fatalf("the agent exited under faults (starts %d, running %v)", n.Starts(), n.Running())
	}
	checkAddresses(t, n, pods)
	checkReachable(t, pods)

	m = metrics(t, n)
	if v := sum(m, "eksnet_agent_ec2_retries_total"); v == 0 {
		t.Errorf("throttling and 5xx left no EC2 retries in the metrics")
	}
	if v := m[`eksnet_agent_warm_pool_backoffs_total{reason="out_of_addresses"}`]; v == 0 {
		t.Errorf("InsufficientCidrBlocks left no out-of-addresses backoff in the metrics")
	}
	t.Logf("backoffs: %v imds, %v out of addresses; EC2 retries %v",
		m[`eksnet_agent_warm_pool_backoffs_total{reason="imds"}`], m[`eksnet_agent_warm_pool_backoffs_total{reason="out_of_addresses"}`], sum(m, "eksnet_agent_ec2_retries_total"))
}
