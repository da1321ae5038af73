package agent

import (
	"context"
	"log/slog"
	"testing"

	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/datapath/netnstest"
	"github.com/vishvananda/netlink"
)

// TestVethReaperDeletesQueuedVethsAndDrainsOnStop, on real veths in a
// namespace of the test's own: nothing is taken before the reaper runs or
// after it stopped (the plugin then deletes the veth itself), every veth
// taken is deleted, also the ones still queued when the agent stops, and a
// veth that is up again (a newer sandbox's) is left alone.
func TestVethReaperDeletesQueuedVethsAndDrainsOnStop(t *testing.T) {
	netnstest.RequireRoot(t)
	node, pod := netnstest.New(t, "node"), netnstest.New(t, "pod")
	names := []string{"eni" + netnstest.UniqueSuffix(), "enj" + netnstest.UniqueSuffix(), "enk" + netnstest.UniqueSuffix()}
	for i, n := range names {
		netnstest.Veth(t, node, n, "", pod, "eth"+string(rune('0'+i)), "")
	}
	h := node.Handle(t)
	links := make([]datapath.HostLink, len(names))
	for i, n := range names {
		l, err := h.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		links[i] = datapath.HostLink{Name: n, Index: l.Attrs().Index}
		if i < 2 { // cut off, as DEL leaves them; the third stays up
			if err := h.LinkSetDown(l); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := newVethReaper(slog.New(slog.DiscardHandler), func(l datapath.HostLink) error {
		return datapath.InNamespace(node.Path, func() error { return datapath.DeleteHostVeth(l) })
	})
	if r.enqueue(links[0]) {
		t.Fatal("a reaper that is not running took a veth")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r.start()
	go func() { defer close(done); r.run(ctx, reapDrain) }()
	for _, l := range links {
		if !r.enqueue(l) {
			t.Fatalf("running reaper refused %s", l.Name)
		}
	}
	cancel()
	<-done
	if r.enqueue(links[0]) {
		t.Fatal("a stopped reaper took a veth")
	}
	for i, n := range names {
		_, err := h.LinkByName(n)
		if gone := err != nil; gone != (i < 2) {
			t.Errorf("veth %s: gone = %v (err %v), want %v", n, gone, err, i < 2)
		}
	}
	if _, err := h.LinkByName(names[2]); err == nil {
		if err := h.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: names[2]}}); err != nil {
			t.Fatal(err)
		}
	}
}
