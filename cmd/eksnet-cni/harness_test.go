package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/datapath/netnstest"
	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/vishvananda/netlink"
)

// pluginBin is the real plugin, built once for the package's tests.
var pluginBin string

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		dir, err := os.MkdirTemp("", "eksnet-cni-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pluginBin = filepath.Join(dir, "eksnet-cni")
		out, err := exec.Command("go", "build", "-o", pluginBin, ".").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building eksnet-cni: %v\n%s", err, out)
			os.Exit(1)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// agent is a small behaving eksnet-agent in prefix mode: addresses from a
// list, one per key, the same again for a repeated key, RouteTable as
// configured, Unit the address's /28, whose policy rules newEnv adds to the
// node as the real agent does before it hands out a unit's addresses.
type agent struct {
	mu     sync.Mutex
	free   []netip.Addr
	table  int
	alloc  map[rpc.Key]rpc.Allocation
	reason string // non-empty: not ready
	// allocateCalls counts Allocate requests, answered or not.
	allocateCalls int
}

func newAgent(table int, addrs ...string) *agent {
	a := &agent{table: table, alloc: map[rpc.Key]rpc.Allocation{}}
	for _, s := range addrs {
		a.free = append(a.free, netip.MustParseAddr(s))
	}
	return a
}

func (a *agent) Allocate(_ context.Context, req rpc.AllocateRequest) (rpc.Allocation, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.allocateCalls++
	if a.reason != "" {
		return rpc.Allocation{}, rpc.Errorf(rpc.CodeNotReady, "%s", a.reason)
	}
	if al, ok := a.alloc[req.Key]; ok {
		return al, nil
	}
	if len(a.free) == 0 {
		return rpc.Allocation{}, rpc.Errorf(rpc.CodeNoAddresses, "node full: %d of %d addresses assigned", len(a.alloc), len(a.alloc))
	}
	al := rpc.Allocation{Key: req.Key, Address: a.free[0], ENIID: "eni-test", RouteTable: a.table, Unit: unit28(a.free[0]),
		Netns: req.Netns, PodNamespace: req.PodNamespace, PodName: req.PodName}
	a.free = a.free[1:]
	a.alloc[req.Key] = al
	return al, nil
}

func (a *agent) Release(_ context.Context, key rpc.Key) (*rpc.Allocation, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	al, ok := a.alloc[key]
	if !ok {
		return nil, nil
	}
	delete(a.alloc, key)
	a.free = append(a.free, al.Address)
	return &al, nil
}

func (a *agent) Check(_ context.Context, key rpc.Key) (rpc.Allocation, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	al, ok := a.alloc[key]
	if !ok {
		return rpc.Allocation{}, rpc.Errorf(rpc.CodeNotFound, "no allocation for %s", key)
	}
	return al, nil
}

func (a *agent) List(context.Context) ([]rpc.Allocation, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []rpc.Allocation
	for _, al := range a.alloc {
		out = append(out, al)
	}
	return out, nil
}

func (a *agent) Status(context.Context) (rpc.Status, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	reason := a.reason
	if reason == "" && len(a.free) == 0 {
		reason = "no free addresses"
	}
	return rpc.Status{Ready: reason == "", Reason: reason, Assigned: len(a.alloc), Free: len(a.free), Total: len(a.alloc) + len(a.free)}, nil
}

// unit28 is the /28 prefix holding addr.
func unit28(addr netip.Addr) netip.Prefix { return netip.PrefixFrom(addr, 28).Masked() }

// units are the pool units of the agent's addresses, with their table.
func (a *agent) units() []datapath.Unit {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := map[netip.Prefix]bool{}
	var out []datapath.Unit
	for _, addr := range a.free {
		if u := unit28(addr); !seen[u] {
			seen[u] = true
			out = append(out, datapath.Unit{Prefix: u, Table: a.table})
		}
	}
	return out
}

func (a *agent) allocations() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.alloc)
}

// serve runs the agent on socket until the returned stop is called (or the
// test ends).
func serve(t *testing.T, h rpc.Handler, socket string) (stop func()) {
	t.Helper()
	ln, err := rpc.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&rpc.Server{Handler: h}).Serve(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// env is one test node: a node namespace, an agent socket, a plugin config.
type env struct {
	t      *testing.T
	node   *netnstest.NS
	socket string
	agent  *agent
	stop   func()
}

func newEnv(t *testing.T, a *agent) *env {
	t.Helper()
	netnstest.RequireRoot(t)
	e := &env{t: t, node: netnstest.New(t, "node"), socket: filepath.Join(t.TempDir(), "agent.sock"), agent: a}
	e.node.Sysctl(t, "net/ipv4/ip_forward", "1")
	e.node.Do(t, func() error { return datapath.AddUnitRules(a.units()) })
	e.stop = serve(t, a, e.socket)
	return e
}

func (e *env) conf(version string, extra map[string]any) []byte {
	c := map[string]any{
		"cniVersion": version, "name": "eksnet", "type": "eksnet-cni",
		"socketPath": e.socket, "vethPrefix": "eni", "mtu": 9001,
		"logFile": filepath.Join(e.t.TempDir(), "plugin.log"),
	}
	for k, v := range extra {
		c[k] = v
	}
	b, err := json.Marshal(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// call is one plugin invocation.
type call struct {
	command, containerID, netns, ifName, args string
	stdin                                     []byte
	omit                                      []string // CNI_* variables to leave out
}

type outcome struct {
	stdout  []byte
	stderr  string
	exit    int
	elapsed time.Duration
}

// cniErr is a CNI error result.
type cniErr struct {
	Code    uint   `json:"code"`
	Msg     string `json:"msg"`
	Details string `json:"details"`
}

func (o outcome) err() *cniErr {
	if o.exit == 0 {
		return nil
	}
	var e cniErr
	if err := json.Unmarshal(o.stdout, &e); err != nil {
		return &cniErr{Code: 9999, Msg: fmt.Sprintf("unparseable error output %q (stderr %q)", o.stdout, o.stderr)}
	}
	return &e
}

// run execs the built plugin inside the node namespace, as a runtime would.
func (e *env) run(c call) outcome {
	e.t.Helper()
	if c.ifName == "" {
		c.ifName = "eth0"
	}
	vars := map[string]string{
		"CNI_COMMAND": c.command, "CNI_CONTAINERID": c.containerID, "CNI_NETNS": c.netns,
		"CNI_IFNAME": c.ifName, "CNI_ARGS": c.args, "CNI_PATH": filepath.Dir(pluginBin),
	}
	for _, k := range c.omit {
		delete(vars, k)
	}
	cmd := exec.Command("ip", "netns", "exec", e.node.Name, pluginBin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = bytes.NewReader(c.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	o := outcome{stdout: stdout.Bytes(), stderr: stderr.String(), elapsed: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		o.exit = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("running the plugin: %v", err)
	}
	return o
}

// podArgs is CNI_ARGS as kubelet sets it.
func podArgs(ns, name string) string {
	return fmt.Sprintf("IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;K8S_POD_INFRA_CONTAINER_ID=x", ns, name)
}

// hostState reads what exists on the node for a veth name and an address:
// the veth itself, any route to the address and any per-pod policy rule
// naming it (there must be none: the rules are per unit, the agent's).
func (e *env) hostState(veth string, addr netip.Addr) []string {
	e.t.Helper()
	var out []string
	h := e.node.Handle(e.t)
	if _, err := h.LinkByName(veth); err == nil {
		out = append(out, "link "+veth)
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.IP.Equal(addr.AsSlice()) {
			out = append(out, r.String())
		}
	}
	rules, err := h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range rules {
		if r.Priority == datapath.ToPodRulePriority || r.Priority == datapath.FromPodRulePriority {
			if names(r.Dst, addr) || names(r.Src, addr) {
				out = append(out, r.String())
			}
		}
	}
	return out
}

// names reports whether n is addr's /32.
func names(n *net.IPNet, addr netip.Addr) bool {
	if n == nil {
		return false
	}
	ones, _ := n.Mask.Size()
	return ones == 32 && n.IP.Equal(addr.AsSlice())
}

// vethCount counts the node's veths whose name starts with the prefix.
func (e *env) vethCount(prefix string) int {
	links, err := e.node.Handle(e.t).LinkList()
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, l := range links {
		if l.Type() == "veth" && strings.HasPrefix(l.Attrs().Name, prefix) {
			n++
		}
	}
	return n
}

// verify runs datapath.Verify for a pod inside the node namespace.
// verify checks p's wiring, with the rules of its /28 unit (the fake agent
// is in prefix mode) unless p names a unit.
func (e *env) verify(p datapath.Pod) error {
	if !p.Unit.IsValid() && p.Address.IsValid() {
		p.Unit = unit28(p.Address)
	}
	var err error
	e.node.Do(e.t, func() error { err = datapath.Verify(p); return nil })
	return err
}
