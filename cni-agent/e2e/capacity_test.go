package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/sim"
	"github.com/vishvananda/netlink"
)

// TestT3MediumFillsThroughThePlugin: a t3.medium runs exactly max pods - 2
// (the host-network daemons) pods through the plugin, 15 with secondary IPs
// and 108 with /28 prefixes, every one wired and distinct; the next ADD fails
// at once with CNI code 11 and says the node is full, leaving nothing behind.
func TestT3MediumFillsThroughThePlugin(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want int
	}{
		{"secondary", 15},
		{"prefix", 108},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			vpc := newVPC(t)
			n := startNode(t, vpc, "full", "t3.medium", "", map[string]string{"EKSNET_MODE": tc.mode})
			seen := map[string]bool{}
			var pods []*pod
			for i := range tc.want {
				p := n.newPod(fmt.Sprintf("p%d", i))
				n.addRetrying(p, 90*time.Second)
				if seen[p.addr.String()] {
					t.Fatalf("pod %d got %s, already given to another pod", i, p.addr)
				}
				seen[p.addr.String()] = true
				pods = append(pods, p)
			}
			st, err := n.client.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.Capacity != tc.want || st.Assigned != tc.want {
				t.Fatalf("agent status: capacity %d, assigned %d; want %d and %d", st.Capacity, st.Assigned, tc.want, tc.want)
			}

			extra := n.newPod("one-too-many")
			took, err := n.add(extra)
			ce, ok := err.(*cniError)
			if !ok || ce.Code != 11 || !strings.Contains(ce.Msg, "no free pod address on this node") || !strings.Contains(ce.Msg, "node full") {
				t.Fatalf("ADD of pod %d: %v, want CNI code 11 saying the node is full", tc.want+1, err)
			}
			if took > 2*time.Second {
				t.Fatalf("ADD on a full node took %v, want a fast failure", took)
			}
			t.Logf("ADD of pod %d failed in %v: %s", tc.want+1, took.Round(time.Millisecond), ce.Msg)
			if veths := n.podVeths(); veths != tc.want {
				t.Fatalf("%d pod veths on the node, want %d (the failed ADD must leave none)", veths, tc.want)
			}

			// Every pod is really wired: the first and the last reach each other.
			first, last := pods[0], pods[len(pods)-1]
			listen(t, first, podPort)
			expectSource(t, "last pod -> first pod", last.netns, netipAddrPortOf(first), last.addr)
		})
	}
}

// podVeths counts the host-side pod veths in the node.
func (n *node) podVeths() int {
	n.t.Helper()
	count := 0
	err := sim.RunIn(n.sim.NetNSPath(), func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if l.Type() == "veth" && strings.HasPrefix(l.Attrs().Name, "eni") {
				count++
			}
		}
		return nil
	})
	if err != nil {
		n.t.Fatal(err)
	}
	return count
}
