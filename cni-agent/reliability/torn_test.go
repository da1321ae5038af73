package reliability

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/agent"
	"github.com/eksnet/eksnet/cni-agent/checkpoint"
	"github.com/eksnet/eksnet/sim/simcluster"
)

// TestTornCheckpoint: the agent is SIGKILLed with pods running and its
// checkpoint is then truncated (a torn write on a filesystem that lost the
// rename's ordering) or overwritten with garbage, or a record in the middle
// of its journal is garbled (only the last can be torn by a crash, and a
// torn last record is simply dropped). The restarted agent must
// say so (status' last errors, the bad file kept aside), rebuild the live
// allocations from the kernel's pod routes over the pool IMDS and EC2
// describe, and never hand a live pod's address to a new pod; a pod deleted
// afterwards gives its address back.
func TestTornCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name string
		// journal: corrupt the journal instead of the snapshot.
		journal bool
		corrupt func(b []byte) []byte
	}{
		{"truncated", false, func(b []byte) []byte { return b[:len(b)/2] }},
		{"garbage", false, func(b []byte) []byte { return []byte("\x00\x00\x00\x00{\"version\":1,\"assign") }},
		{"journal", true, func(b []byte) []byte { return bytes.Replace(b, []byte(`"op":"assign"`), []byte(`"op":"assigN"`), 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			n := addNode(t, c, "torn-"+tc.name[:4], "t3.medium", map[string]string{
				"EKSNET_MODE": "prefix", "EKSNET_RECONCILE_INTERVAL": "1s", "EKSNET_COOLDOWN": "1s",
			})
			start(t, n, 90*time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			old := newPods(t, n, "o", 12)
			if _, err := storm(ctx, n, old, 4, nil); err != nil {
				t.Fatal(err)
			}
			if err := n.Kill(ctx); err != nil {
				t.Fatal(err)
			}
			path := n.Env()["EKSNET_CHECKPOINT_PATH"]
			target := path
			if tc.journal {
				target = checkpoint.JournalPath(path)
			}
			b, err := os.ReadFile(target)
			if err != nil {
				t.Fatal(err)
			}
			bad := tc.corrupt(b)
			if bytes.Equal(bad, b) {
				t.Fatalf("nothing to corrupt in %s: %q", target, b)
			}
			if err := os.WriteFile(target, bad, 0o600); err != nil {
				t.Fatal(err)
			}

			start(t, n, 90*time.Second)
			st, err := n.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(st.LastErrors, "\n"), "checkpoint unreadable") {
				t.Errorf("the unreadable checkpoint is not reported in status; last errors: %q", st.LastErrors)
			}
			if _, err := os.Stat(path + ".corrupt"); err != nil {
				t.Errorf("the bad checkpoint was not kept aside: %v", err)
			}
			live := map[netip.Addr]string{}
			for _, p := range old {
				live[p.Addr] = p.Name
			}
			list, err := n.Client().List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			recovered := 0
			for _, al := range list {
				if al.Key.Network == agent.RecoveredNetwork {
					if _, ok := live[al.Address]; !ok {
						t.Errorf("recovered %s, which no pod holds", al.Address)
					}
					recovered++
				}
			}
			if recovered != len(old) {
				t.Errorf("recovered %d allocations from the kernel, want %d (one per live pod)", recovered, len(old))
			}

			// New pods fill the node: none may get a live pod's address.
			fresh := newPods(t, n, "f", 40)
			if _, err := storm(ctx, n, fresh, 8, nil); err != nil {
				t.Fatal(err)
			}
			for _, p := range fresh {
				if other, ok := live[p.Addr]; ok {
					t.Errorf("new pod %s got %s, the address of live pod %s", p.Name, p.Addr, other)
				}
			}
			checkReachable(t, append(append([]*simcluster.Pod{}, old...), fresh...))

			// Deleting an old pod (its DEL finds no allocation under its
			// real key, and removes the veth) frees the recovered address
			// at the next reconcile.
			gone := old[0]
			if _, err := n.Remove(ctx, gone); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				list, err := n.Client().List(ctx)
				if err != nil {
					t.Fatal(err)
				}
				held := false
				for _, al := range list {
					held = held || al.Address == gone.Addr
				}
				if !held {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the deleted pod's recovered address %s is still held after 30s", gone.Addr)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if !n.Running() || n.Starts() != 2 {
				t.Fatalf("agent running = %v after %d starts", n.Running(), n.Starts())
			}
		})
	}
}
