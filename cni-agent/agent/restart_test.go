package agent_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// kill -9 with allocations live, start again: every live allocation keeps
// its address, none is handed out twice, released ones come back.
func TestKill9RestartKeepsEveryAllocation(t *testing.T) {
	vpc := newVPC(t)
	node := addNode(t, vpc, "restart", "t3.medium")
	dir := t.TempDir()
	env := map[string]string{"EKSNET_MODE": "secondary", "EKSNET_COOLDOWN": "2s"}
	ag := startAgent(t, node, dir, env)
	ag.waitFor("ready", 30*time.Second, func(s rpc.Status) bool { return s.Ready })
	live := map[rpc.Key]netip.Addr{}
	for i := range 9 {
		live[key(i)] = ag.allocate(key(i)).Address
	}
	releasedAddr := map[netip.Addr]bool{}
	for _, i := range []int{2, 5} {
		releasedAddr[live[key(i)]] = true
		if _, err := ag.client.Release(context.Background(), key(i)); err != nil {
			t.Fatal(err)
		}
		delete(live, key(i))
	}
	// A pod whose network namespace disappears while the agent is down (it
	// was deleted, and its CNI DEL could not reach the agent).
	goneNetns := filepath.Join(dir, "netns-of-a-deleted-pod")
	if err := os.WriteFile(goneNetns, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	gone, err := ag.client.Allocate(context.Background(), rpc.AllocateRequest{Key: key(50), Netns: goneNetns})
	if err != nil {
		t.Fatal(err)
	}
	releasedAddr[gone.Address] = true
	ag.kill9()
	os.Remove(goneNetns)

	ag2 := startAgent(t, node, dir, env)
	st := ag2.waitFor("ready after restart", 30*time.Second, func(s rpc.Status) bool { return s.Ready })
	if _, err := ag2.client.Check(context.Background(), key(50)); rpc.CodeOf(err) != rpc.CodeNotFound {
		t.Fatalf("the allocation of a pod whose netns vanished survived the restart: %v", err)
	}
	if st.Assigned != len(live) {
		t.Fatalf("%d assigned after restart, want %d", st.Assigned, len(live))
	}
	// The log counts what was kept, apart from what was released.
	var restored struct {
		Restored, Released, Rejected int
	}
	b, _ := os.ReadFile(ag2.log)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `"msg":"restored allocations"`) {
			if err := json.Unmarshal([]byte(line), &restored); err != nil {
				t.Fatalf("log line %s: %v", line, err)
			}
		}
	}
	if restored.Restored != len(live) || restored.Released != 1 || restored.Rejected != 0 {
		t.Fatalf("restart logged %+v, want %d restored, 1 released (its netns is gone), 0 rejected", restored, len(live))
	}
	list, err := ag2.client.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, al := range list {
		if live[al.Key] != al.Address {
			t.Errorf("after restart %s holds %s, before it held %s", al.Key, al.Address, live[al.Key])
		}
	}
	for k, addr := range live {
		al := ag2.allocate(k) // the same key asks again (a CNI ADD retry)
		if al.Address != addr {
			t.Errorf("%s re-allocated %s, want its old %s", k, al.Address, addr)
		}
	}
	// Fill the node: the new pods never get a live address, and the two
	// released addresses (out of cooldown by then) are reused.
	owner := map[netip.Addr]rpc.Key{}
	for k, a := range live {
		owner[a] = k
	}
	reused := 0
	for i := 100; len(owner) < 15; i++ {
		al := ag2.allocate(key(i))
		if o, taken := owner[al.Address]; taken {
			t.Fatalf("%s handed to %s while %s holds it", al.Address, key(i), o)
		}
		owner[al.Address] = key(i)
		if releasedAddr[al.Address] {
			reused++
		}
	}
	if reused != 3 {
		t.Fatalf("%d of the 3 released addresses (2 released, 1 whose pod vanished) came back to the pool", reused)
	}
}
