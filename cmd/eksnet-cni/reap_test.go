package main

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/datapath/netnstest"
	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/vishvananda/netlink"
)

// reapingAgent is the test agent with the real agent's veth hand-off: it
// takes the veths DEL hands over, and the test plays the agent's reaper at
// the moments it chooses (also late, after a new sandbox took the name).
type reapingAgent struct {
	*agent
	mu  sync.Mutex
	got []rpc.VethRef
}

func (a *reapingAgent) ReapVeth(v rpc.VethRef) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, v)
	return true
}

func (a *reapingAgent) taken() []rpc.VethRef {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

func (a *reapingAgent) addressOf(t *testing.T, containerID string) netip.Addr {
	t.Helper()
	al, err := a.Check(t.Context(), rpc.Key{Network: "eksnet", ContainerID: containerID, IfName: "eth0"})
	if err != nil {
		t.Fatal(err)
	}
	return al.Address
}

// TestDelHandsTheVethToTheAgent: with an agent that reaps, DEL returns with
// no route, no rule and no allocation left and the host veth down, handed to
// the agent by index; a second DEL is still success; a new sandbox of the
// same pod wires at once over the same-named leftover; the agent's late
// deletion of the old veth leaves the new one alone; and the reaper's
// deletion removes the pair, pod side included.
func TestDelHandsTheVethToTheAgent(t *testing.T) {
	netnstest.RequireRoot(t)
	ra := &reapingAgent{agent: newAgent(3, "10.0.1.5", "10.0.1.6")}
	e := &env{t: t, node: netnstest.New(t, "node"), socket: t.TempDir() + "/agent.sock", agent: ra.agent}
	e.node.Sysctl(t, "net/ipv4/ip_forward", "1")
	e.node.Do(t, func() error { return datapath.AddUnitRules(ra.units()) })
	e.stop = serve(t, ra, e.socket)
	veth := datapath.HostVethName("eni", "default", "web-0", "")
	args := podArgs("default", "web-0")

	podA := netnstest.New(t, "pod")
	addA := e.run(call{command: "ADD", containerID: "a", netns: podA.Path, args: args, stdin: e.conf("1.1.0", nil)})
	if err := addA.err(); err != nil {
		t.Fatalf("ADD: %+v", err)
	}
	addrA := ra.addressOf(t, "a")
	for i := range 2 {
		if err := e.run(call{command: "DEL", containerID: "a", netns: podA.Path, args: args, stdin: e.withPrev("1.1.0", addA)}).err(); err != nil {
			t.Fatalf("DEL #%d: %+v", i+1, err)
		}
	}
	if left := e.hostState(veth, addrA); !slices.Equal(left, []string{"link " + veth}) {
		t.Fatalf("after DEL: %q, want only the veth, for the agent to delete", left)
	}
	h := e.node.Handle(t)
	old, err := h.LinkByName(veth)
	if err != nil {
		t.Fatal(err)
	}
	if old.Attrs().Flags&net.FlagUp != 0 {
		t.Fatal("the veth left for the agent is still up")
	}
	if n := ra.allocations(); n != 0 {
		t.Fatalf("%d allocations after DEL", n)
	}
	oldRef := rpc.VethRef{Name: veth, Index: old.Attrs().Index}
	if got := ra.taken(); len(got) == 0 || got[0] != oldRef {
		t.Fatalf("agent got %+v, want %+v first", got, oldRef)
	}

	// A new sandbox of the same pod, before the agent got to the old veth.
	podB := netnstest.New(t, "pod")
	addB := e.run(call{command: "ADD", containerID: "b", netns: podB.Path, args: args, stdin: e.conf("1.1.0", nil)})
	if err := addB.err(); err != nil {
		t.Fatalf("ADD of the new sandbox over the leftover veth: %+v", err)
	}
	b := datapath.Pod{Netns: podB.Path, IfName: "eth0", HostVeth: veth, RouteTable: 3, MTU: 9001,
		Address: ra.addressOf(t, "b")}
	reap := func(v rpc.VethRef) {
		t.Helper()
		e.node.Do(t, func() error { return datapath.DeleteHostVeth(datapath.HostLink{Name: v.Name, Index: v.Index}) })
	}
	reap(oldRef)
	if err := e.verify(b); err != nil {
		t.Fatalf("the old veth's late deletion touched the new sandbox: %v", err)
	}

	if err := e.run(call{command: "DEL", containerID: "b", netns: podB.Path, args: args, stdin: e.withPrev("1.1.0", addB)}).err(); err != nil {
		t.Fatalf("DEL of the new sandbox: %+v", err)
	}
	got := ra.taken()
	reap(got[len(got)-1])
	if n := e.vethCount("eni"); n != 0 {
		t.Fatalf("%d veths after the agent's deletion, want 0", n)
	}
	if left := e.hostState(veth, b.Address); len(left) != 0 {
		t.Fatalf("left behind: %q", left)
	}
	podLinks, err := podB.Handle(t).LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range podLinks {
		if _, ok := l.(*netlink.Veth); ok {
			t.Fatalf("pod side %s still there after the agent's deletion", l.Attrs().Name)
		}
	}
}
