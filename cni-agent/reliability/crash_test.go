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
	var (
		once     sync.Once
		mu       sync.Mutex
		attempts []attempt
		sentAt   time.Time
	)
	killed := make(chan error, 1)
	hooks := &stormHooks{
		OnAttempt: func(a attempt) {
			mu.Lock()
			attempts = append(attempts, a)
			mu.Unlock()
		},
		OnAdded: func(done int) {
			if done < pods/2 {
				return
			}
			once.Do(func() {
				go func() {
					mu.Lock()
					sentAt = time.Now()
					mu.Unlock()
					if err := n.Kill(ctx); err != nil {
						killed <- err
						return
					}
					time.Sleep(500 * time.Millisecond)
					killed <- n.Start(ctx)
				}()
			})
		},
	}
	retries, err := storm(ctx, n, ps, par, hooks)
	if err != nil {
		t.Fatalf("storm: %v", err)
	}
	if err := <-killed; err != nil {
		t.Fatalf("killing and restarting the agent: %v", err)
	}
	// The kill must have landed on ADDs in flight, or this proved nothing:
	// count the tries that began before SIGKILL was sent and ended after.
	// Those that succeeded anyway are checked like every other pod below.
	mu.Lock()
	var inFlight, failed int
	for _, a := range attempts {
		if a.Began.Before(sentAt) && a.Ended.After(sentAt) {
			inFlight++
			if a.Err != nil {
				failed++
			}
		}
	}
	mu.Unlock()
	if inFlight == 0 {
		t.Fatalf("no ADD was in flight when the agent was killed (%d tries, %d retried)", len(attempts), retries)
	}
	t.Logf("%d pods wired; %d ADDs in flight at SIGKILL (%d failed, %d succeeded); %d retries in all",
		pods, inFlight, failed, inFlight-failed, retries)
	if n.Starts() != 2 || !n.Running() {
		t.Fatalf("agent starts = %d, running = %v; want 2 and running", n.Starts(), n.Running())
	}
	checkAddresses(t, n, ps)
	checkReachable(t, ps)
}
