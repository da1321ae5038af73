package reliability

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestAgentKilledMidStorm: 200 pods ADDed 16 at a time; when half are
// wired the agent is SIGKILLed, and started again a moment later (systemd's
// Restart=always). ADDs in flight fail and are retried as kubelet retries
// them. Afterwards no address is held twice, none has leaked (every
// allocation belongs to a live pod, every pod's address is held for it) and
// every pod that got a result is reachable with its own address.
func TestAgentKilledMidStorm(t *testing.T) {
	const pods, par = 200, 16
	c := newCluster(t)
	// An m5.large in prefix mode holds 434 pods before the kubelet cap;
	// max pods 202 = 200 pod addresses. The warm pool starts small, so the
	// storm also makes the agent grow the pool (EC2 calls) while it dies.
	n := addNode(t, c, "crash", "m5.large", map[string]string{"EKSNET_MODE": "prefix", "EKSNET_MAX_PODS": "202"})
	start(t, n, 90*time.Second)
	ps := newPods(t, n, "c", pods)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var once sync.Once
	killed := make(chan error, 1)
	retries, err := storm(ctx, n, ps, par, func(done int) {
		if done < pods/2 {
			return
		}
		once.Do(func() {
			go func() {
				if err := n.Kill(ctx); err != nil {
					killed <- err
					return
				}
				time.Sleep(500 * time.Millisecond)
				killed <- n.Start(ctx)
			}()
		})
	})
	if err != nil {
		t.Fatalf("storm: %v", err)
	}
	if err := <-killed; err != nil {
		t.Fatalf("killing and restarting the agent: %v", err)
	}
	// The kill must have hit ADDs in flight, or this proved nothing.
	if retries == 0 {
		t.Fatal("no ADD failed while the agent was down")
	}
	t.Logf("%d pods wired; %d ADDs failed while the agent was down and were retried", pods, retries)
	if n.Starts() != 2 || !n.Running() {
		t.Fatalf("agent starts = %d, running = %v; want 2 and running", n.Starts(), n.Running())
	}
	checkAddresses(t, n, ps)
	checkReachable(t, ps)
}
