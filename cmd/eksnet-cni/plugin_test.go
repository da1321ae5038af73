package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/datapath/netnstest"
	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/vishvananda/netlink"
)

// withPrev adds prevResult (the ADD output) to a config.
func (e *env) withPrev(version string, add outcome) []byte {
	var prev map[string]any
	if err := json.Unmarshal(add.stdout, &prev); err != nil {
		e.t.Fatalf("ADD output %q: %v", add.stdout, err)
	}
	return e.conf(version, map[string]any{"prevResult": prev})
}

func TestAddCheckDelEachVersion(t *testing.T) {
	for _, version := range []string{"0.4.0", "1.0.0", "1.1.0"} {
		t.Run(version, func(t *testing.T) {
			e := newEnv(t, newAgent(3, "10.0.1.5"))
			pod := netnstest.New(t, "pod")
			c := call{command: "ADD", containerID: "c-" + version, netns: pod.Path, args: podArgs("default", "web-0"), stdin: e.conf(version, nil)}
			add := e.run(c)
			if err := add.err(); err != nil {
				t.Fatalf("ADD: %+v", err)
			}
			var res struct {
				CNIVersion string `json:"cniVersion"`
				IPs        []struct {
					Address, Gateway string
				} `json:"ips"`
				Interfaces []struct{ Name, Sandbox string } `json:"interfaces"`
			}
			if err := json.Unmarshal(add.stdout, &res); err != nil {
				t.Fatal(err)
			}
			veth := datapath.HostVethName("eni", "default", "web-0", "")
			if res.CNIVersion != version || len(res.IPs) != 1 || res.IPs[0].Address != "10.0.1.5/32" || res.IPs[0].Gateway != "169.254.1.1" ||
				len(res.Interfaces) != 2 || res.Interfaces[0].Name != veth || res.Interfaces[1].Sandbox != pod.Path {
				t.Fatalf("ADD result = %s", add.stdout)
			}
			p := datapath.Pod{Netns: pod.Path, IfName: "eth0", HostVeth: veth, Address: netip.MustParseAddr("10.0.1.5"), RouteTable: 3, MTU: 9001}
			if err := e.verify(p); err != nil {
				t.Fatalf("kernel state after ADD: %v", err)
			}

			c.command, c.stdin = "CHECK", e.withPrev(version, add)
			if err := e.run(c).err(); err != nil {
				t.Fatalf("CHECK on a healthy pod: %+v", err)
			}

			c.command = "DEL"
			for i := range 2 {
				if err := e.run(c).err(); err != nil {
					t.Fatalf("DEL #%d: %+v", i+1, err)
				}
				if left := e.hostState(veth, p.Address); len(left) != 0 || e.agent.allocations() != 0 {
					t.Fatalf("after DEL #%d: host %v, %d allocations", i+1, left, e.agent.allocations())
				}
			}
			// DEL after the sandbox's namespace is gone, without prevResult.
			c.netns, c.stdin = "", e.conf(version, nil)
			if err := e.run(c).err(); err != nil {
				t.Fatalf("DEL without a namespace: %+v", err)
			}
		})
	}
}

func TestCheckFindsBrokenPods(t *testing.T) {
	e := newEnv(t, newAgent(2, "10.0.1.5"))
	pod := netnstest.New(t, "pod")
	c := call{command: "ADD", containerID: "c1", netns: pod.Path, args: podArgs("default", "web-0"), stdin: e.conf("1.1.0", nil)}
	add := e.run(c)
	if err := add.err(); err != nil {
		t.Fatal(err)
	}
	h := e.node.Handle(t)
	rules, _ := h.RuleList(netlink.FAMILY_V4)
	for _, r := range rules {
		if r.Priority == datapath.FromPodRulePriority {
			if err := h.RuleDel(&r); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.command, c.stdin = "CHECK", e.withPrev("1.1.0", add)
	err := e.run(c).err()
	if err == nil || err.Code != types.ErrInternal || !strings.Contains(err.Msg, "missing host: rule 1536 from 10.0.1.0/28 lookup 2") {
		t.Fatalf("CHECK without the unit's from rule: %+v", err)
	}

	// The agent forgot the allocation (for example a lost checkpoint).
	if _, rerr := e.agent.Release(t.Context(), rpc.Key{Network: "eksnet", ContainerID: "c1", IfName: "eth0"}); rerr != nil {
		t.Fatal(rerr)
	}
	err = e.run(c).err()
	if err == nil || err.Code != types.ErrUnknownContainer || !strings.Contains(err.Msg, "no allocation for eksnet/c1/eth0") {
		t.Fatalf("CHECK with no allocation: %+v", err)
	}
}

func TestDelWithTheAgentDown(t *testing.T) {
	e := newEnv(t, newAgent(2, "10.0.1.5", "10.0.1.6"))
	veth := datapath.HostVethName("eni", "default", "web-0", "")
	podA, podB := netnstest.New(t, "pod"), netnstest.New(t, "pod")
	addA := e.run(call{command: "ADD", containerID: "a", netns: podA.Path, args: podArgs("default", "web-0"), stdin: e.conf("1.1.0", nil)})
	addB := e.run(call{command: "ADD", containerID: "b", netns: podB.Path, args: podArgs("default", "web-1"), stdin: e.conf("1.1.0", nil)})
	if addA.err() != nil || addB.err() != nil {
		t.Fatalf("ADD: %+v %+v", addA.err(), addB.err())
	}
	e.stop()

	// With the runtime's cached result.
	if err := e.run(call{command: "DEL", containerID: "a", netns: podA.Path, args: podArgs("default", "web-0"), stdin: e.withPrev("1.1.0", addA)}).err(); err != nil {
		t.Fatalf("DEL with the agent down: %+v", err)
	}
	if left := e.hostState(veth, netip.MustParseAddr("10.0.1.5")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
	// Without it: the address comes from the pod's interface.
	vethB := datapath.HostVethName("eni", "default", "web-1", "")
	if err := e.run(call{command: "DEL", containerID: "b", netns: podB.Path, args: podArgs("default", "web-1"), stdin: e.conf("1.1.0", nil)}).err(); err != nil {
		t.Fatalf("DEL with the agent down and no prevResult: %+v", err)
	}
	if left := e.hostState(vethB, netip.MustParseAddr("10.0.1.6")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func TestGCReleasesStaleAttachments(t *testing.T) {
	e := newEnv(t, newAgent(2, "10.0.1.5", "10.0.1.6", "10.0.1.7", "10.0.1.8"))
	names := []string{"keep", "stale-1", "stale-2"}
	for _, n := range names {
		pod := netnstest.New(t, "pod")
		if err := e.run(call{command: "ADD", containerID: n, netns: pod.Path, args: podArgs("default", n), stdin: e.conf("1.1.0", nil)}).err(); err != nil {
			t.Fatal(err)
		}
	}
	// An allocation of another network is not ours to collect.
	if _, err := e.agent.Allocate(t.Context(), rpc.AllocateRequest{Key: rpc.Key{Network: "other", ContainerID: "x", IfName: "eth0"}}); err != nil {
		t.Fatal(err)
	}
	gc := e.conf("1.1.0", map[string]any{"cni.dev/valid-attachments": []map[string]string{{"containerID": "keep", "ifname": "eth0"}}})
	if err := e.run(call{command: "GC", stdin: gc}).err(); err != nil {
		t.Fatalf("GC: %+v", err)
	}
	list, _ := e.agent.List(t.Context())
	var kept []string
	for _, a := range list {
		kept = append(kept, a.Key.String())
	}
	if len(list) != 2 || !strings.Contains(strings.Join(kept, " "), "eksnet/keep/eth0") || !strings.Contains(strings.Join(kept, " "), "other/x/eth0") {
		t.Fatalf("after GC the agent holds %v, want eksnet/keep/eth0 and other/x/eth0", kept)
	}
	if n := e.vethCount("eni"); n != 1 {
		t.Fatalf("%d veths left after GC, want the kept pod's only", n)
	}
	if err := e.run(call{command: "GC", stdin: e.conf("1.0.0", nil)}).err(); err == nil || err.Code != types.ErrIncompatibleCNIVersion {
		t.Fatalf("GC with cniVersion 1.0.0: %+v, want code 1", err)
	}
}

func TestStatus(t *testing.T) {
	netnstest.RequireRoot(t)
	a := newAgent(2)
	e := newEnv(t, a)
	e.stop()
	status := call{command: "STATUS", stdin: e.conf("1.1.0", nil)}
	if err := e.run(status).err(); err == nil || err.Code != 50 || !strings.Contains(err.Msg, "not reachable") {
		t.Fatalf("STATUS before the agent serves: %+v", err)
	}
	serve(t, a, e.socket)
	if err := e.run(status).err(); err == nil || err.Code != 50 || !strings.Contains(err.Msg, "no free addresses") {
		t.Fatalf("STATUS with an empty pool: %+v", err)
	}
	a.mu.Lock()
	a.free = append(a.free, netip.MustParseAddr("10.0.1.5"))
	a.mu.Unlock()
	if err := e.run(status).err(); err != nil {
		t.Fatalf("STATUS with addresses: %+v", err)
	}
}

func TestNodeFullFailsFast(t *testing.T) {
	e := newEnv(t, newAgent(254, "10.0.1.5", "10.0.1.6"))
	for i, n := range []string{"a", "b"} {
		pod := netnstest.New(t, "pod")
		if err := e.run(call{command: "ADD", containerID: n, netns: pod.Path, args: podArgs("default", n), stdin: e.conf("1.1.0", nil)}).err(); err != nil {
			t.Fatalf("ADD #%d: %+v", i+1, err)
		}
	}
	pod := netnstest.New(t, "pod")
	e.agent.mu.Lock()
	before := e.agent.allocateCalls
	e.agent.mu.Unlock()
	o := e.run(call{command: "ADD", containerID: "c", netns: pod.Path, args: podArgs("default", "c"), stdin: e.conf("1.1.0", nil)})
	err := o.err()
	if err == nil || err.Code != types.ErrTryAgainLater || !strings.Contains(err.Msg, "no free pod address on this node: node full: 2 of 2") {
		t.Fatalf("ADD on a full node: %+v", err)
	}
	// Runtimes print "msg; details": the agent's reason must appear once.
	if rendered := (&types.Error{Code: err.Code, Msg: err.Msg, Details: err.Details}).Error(); strings.Count(rendered, "node full") != 1 {
		t.Fatalf("the runtime would print %q: the reason appears %d times, want once", rendered, strings.Count(rendered, "node full"))
	}
	// Fast means the plugin hands the runtime the agent's answer at once:
	// one request, no retry loop (the runtime retries the sandbox itself).
	e.agent.mu.Lock()
	asked := e.agent.allocateCalls - before
	e.agent.mu.Unlock()
	if asked != 1 {
		t.Fatalf("ADD on a full node asked the agent %d times, want once (no retries)", asked)
	}
	if n := e.vethCount("eni"); n != 2 {
		t.Fatalf("%d veths after a failed ADD, want 2", n)
	}
}

// TestBadInputLeavesNothing: each malformed call gets a CNI error with the
// right code and a message naming the problem, and wires nothing.
func TestBadInputLeavesNothing(t *testing.T) {
	e := newEnv(t, newAgent(2, "10.0.1.5"))
	pod := netnstest.New(t, "pod")
	good := call{command: "ADD", containerID: "c1", netns: pod.Path, args: podArgs("default", "web-0")}
	taken := netnstest.New(t, "pod") // eth0 already exists: wiring fails after the allocation
	if err := taken.Handle(t).LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "peer0"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		call  func() call
		code  uint
		msgIn string
	}{
		{"malformed conflist", func() call { c := good; c.stdin = []byte(`{"cniVersion": "1.1.0", "name": "eksnet",`); return c }, types.ErrDecodingFailure, "unmarshal"},
		{"unknown cniVersion", func() call { c := good; c.stdin = e.conf("9.9.9", nil); return c }, types.ErrIncompatibleCNIVersion, "incompatible CNI versions"},
		{"missing network name", func() call { c := good; c.stdin = e.conf("1.1.0", map[string]any{"name": ""}); return c }, types.ErrInvalidNetworkConfig, "missing network name"},
		{"bad vethPrefix", func() call {
			c := good
			c.stdin = e.conf("1.1.0", map[string]any{"vethPrefix": "much-too-long"})
			return c
		}, types.ErrInvalidNetworkConfig, `vethPrefix "much-too-long"`},
		{"bad mtu", func() call { c := good; c.stdin = e.conf("1.1.0", map[string]any{"mtu": 70000}); return c }, types.ErrInvalidNetworkConfig, "mtu 70000"},
		{"relative socketPath", func() call {
			c := good
			c.stdin = e.conf("1.1.0", map[string]any{"socketPath": "agent.sock"})
			return c
		}, types.ErrInvalidNetworkConfig, "socketPath"},
		{"logFile that cannot be opened", func() call {
			c := good
			c.stdin = e.conf("1.1.0", map[string]any{"logFile": "/proc/eksnet-no-such-dir/plugin.log"})
			return c
		}, types.ErrInvalidNetworkConfig, `logFile "/proc/eksnet-no-such-dir/plugin.log": cannot open`},
		{"missing netns", func() call {
			c := good
			c.netns = "/run/netns/eksnet-missing-" + netnstest.UniqueSuffix()
			c.stdin = e.conf("1.1.0", nil)
			return c
		}, types.ErrInvalidNetNS, "cannot open the pod's network namespace"},
		{"missing CNI_CONTAINERID", func() call { c := good; c.stdin = e.conf("1.1.0", nil); c.omit = []string{"CNI_CONTAINERID"}; return c }, types.ErrInvalidEnvironmentVariables, "CNI_CONTAINERID"},
		{"missing CNI_NETNS", func() call { c := good; c.stdin = e.conf("1.1.0", nil); c.omit = []string{"CNI_NETNS"}; return c }, types.ErrInvalidEnvironmentVariables, "CNI_NETNS"},
		{"missing CNI_IFNAME", func() call { c := good; c.stdin = e.conf("1.1.0", nil); c.omit = []string{"CNI_IFNAME"}; return c }, types.ErrInvalidEnvironmentVariables, "CNI_IFNAME"},
		{"missing CNI_PATH", func() call { c := good; c.stdin = e.conf("1.1.0", nil); c.omit = []string{"CNI_PATH"}; return c }, types.ErrInvalidEnvironmentVariables, "CNI_PATH"},
		{"malformed CNI_ARGS", func() call { c := good; c.stdin = e.conf("1.1.0", nil); c.args = "K8S_POD_NAME"; return c }, types.ErrInvalidEnvironmentVariables, "CNI_ARGS"},
		{"interface already in the pod", func() call { c := good; c.netns = taken.Path; c.stdin = e.conf("1.1.0", nil); return c }, types.ErrInternal, "eth0 already exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.run(tc.call()).err()
			if err == nil || err.Code != tc.code || !strings.Contains(err.Msg+" "+err.Details, tc.msgIn) {
				t.Fatalf("got %+v, want code %d mentioning %q", err, tc.code, tc.msgIn)
			}
			if n, allocs := e.vethCount("eni"), e.agent.allocations(); n != 0 || allocs != 0 {
				t.Fatalf("after the failure: %d veths, %d allocations; want none", n, allocs)
			}
			if left := e.hostState("none", netip.MustParseAddr("10.0.1.5")); len(left) != 0 {
				t.Fatalf("routes or rules left behind: %v", left)
			}
		})
	}
	// And the node still works afterwards.
	c := good
	c.stdin = e.conf("1.1.0", nil)
	if err := e.run(c).err(); err != nil {
		t.Fatalf("ADD after the failures: %+v", err)
	}
}

func TestVersion(t *testing.T) {
	netnstest.RequireRoot(t)
	e := &env{t: t, node: netnstest.New(t, "node")}
	o := e.run(call{command: "VERSION"})
	var v struct {
		SupportedVersions []string `json:"supportedVersions"`
	}
	if err := json.Unmarshal(o.stdout, &v); err != nil || strings.Join(v.SupportedVersions, ",") != "0.4.0,1.0.0,1.1.0" {
		t.Fatalf("VERSION = %s (%v)", o.stdout, err)
	}
}

// TestConcurrentAddDel: the runtime runs ADDs and DELs of different pods at
// the same time; each must wire (and unwire) only its own objects.
func TestConcurrentAddDel(t *testing.T) {
	const n = 12
	var addrs []string
	for i := range n {
		addrs = append(addrs, fmt.Sprintf("10.0.1.%d", 10+i))
	}
	e := newEnv(t, newAgent(2, addrs...))
	calls := make([]call, n)
	for i := range n {
		pod := netnstest.New(t, "pod")
		name := fmt.Sprintf("web-%d", i)
		calls[i] = call{command: "ADD", containerID: "c" + name, netns: pod.Path, args: podArgs("default", name), stdin: e.conf("1.1.0", nil)}
	}
	runAll := func(command string) []outcome {
		out := make([]outcome, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := calls[i]
				c.command = command
				out[i] = e.run(c)
			}()
		}
		wg.Wait()
		return out
	}
	for i, o := range runAll("ADD") {
		if err := o.err(); err != nil {
			t.Fatalf("concurrent ADD %d: %+v", i, err)
		}
	}
	list, _ := e.agent.List(t.Context())
	if len(list) != n {
		t.Fatalf("%d allocations after %d ADDs", len(list), n)
	}
	for _, a := range list {
		name := strings.TrimPrefix(a.Key.ContainerID, "c")
		p := datapath.Pod{Netns: a.Netns, IfName: "eth0", HostVeth: datapath.HostVethName("eni", "default", name, ""), Address: a.Address, RouteTable: 2, MTU: 9001}
		if err := e.verify(p); err != nil {
			t.Fatalf("after concurrent ADDs: %v", err)
		}
	}
	for i, o := range runAll("DEL") {
		if err := o.err(); err != nil {
			t.Fatalf("concurrent DEL %d: %+v", i, err)
		}
	}
	if v, allocs := e.vethCount("eni"), e.agent.allocations(); v != 0 || allocs != 0 {
		t.Fatalf("after concurrent DELs: %d veths, %d allocations", v, allocs)
	}
	for _, a := range addrs {
		if left := e.hostState("none", netip.MustParseAddr(a)); len(left) != 0 {
			t.Fatalf("left behind for %s: %v", a, left)
		}
	}
}
