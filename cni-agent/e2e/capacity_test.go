package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/sim/simcluster"
)

// TestT3MediumFillsThroughThePlugin: a t3.medium runs exactly max pods - 1
// (kube-proxy, the one host-network pod of an agent node) pods through the
// plugin, 15 with secondary IPs and 109 with /28 prefixes, every one wired and distinct; the next ADD fails
// at once with CNI code 11 and says the node is full, leaving nothing behind.
func TestT3MediumFillsThroughThePlugin(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want int
	}{
		{"secondary", 15},
		{"prefix", 109},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			c := newCluster(t)
			n := startNode(t, c, "full", "t3.medium", "", map[string]string{"EKSNET_MODE": tc.mode})
			seen := map[string]bool{}
			var pods []*simcluster.Pod
			for i := range tc.want {
				p := newPod(t, n, fmt.Sprintf("p%d", i))
				addRetrying(t, n, p, 90*time.Second)
				if seen[p.Addr.String()] {
					t.Fatalf("pod %d got %s, already given to another pod", i, p.Addr)
				}
				seen[p.Addr.String()] = true
				pods = append(pods, p)
			}
			st, err := n.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.Capacity != tc.want || st.Assigned != tc.want {
				t.Fatalf("agent status: capacity %d, assigned %d; want %d and %d", st.Capacity, st.Assigned, tc.want, tc.want)
			}

			// "At once" is behaviour, not a time: with every EC2 and IMDS
			// answer stalled for minutes, the ADD still gets its answer from
			// the agent's pool through the real plugin binary.
			extra := newPod(t, n, "one-too-many")
			if err := c.VPC().Faults().SetLatency(10 * time.Minute); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			took, err := n.Add(ctx, extra)
			cancel()
			if ferr := c.VPC().Faults().SetLatency(0); ferr != nil {
				t.Fatal(ferr)
			}
			ce := cniError(err)
			if ce == nil || ce.Code != 11 || !strings.Contains(ce.Msg, "no free pod address on this node") || !strings.Contains(ce.Msg, "node full") {
				t.Fatalf("ADD of pod %d with EC2 stalled: %v, want CNI code 11 saying the node is full", tc.want+1, err)
			}
			t.Logf("ADD of pod %d failed in %v: %s", tc.want+1, took.Round(time.Millisecond), ce.Msg)
			if veths := podVeths(t, n); veths != tc.want {
				t.Fatalf("%d pod veths on the node, want %d (the failed ADD must leave none)", veths, tc.want)
			}

			// Every pod is really wired: the first and the last reach each other.
			first, last := pods[0], pods[len(pods)-1]
			expectSource(t, "last pod -> first pod", last.NetNS, listen(t, first), last.Addr)
		})
	}
}
