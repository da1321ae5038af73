package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/cniconf"
	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/cni-agent/sim"
)

var agentBin, pluginBin string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // every test skips
	}
	dir, err := os.MkdirTemp("", "eksnet-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	agentBin, pluginBin = filepath.Join(dir, "eksnet-agent"), filepath.Join(dir, "eksnet-cni")
	for bin, pkg := range map[string]string{agentBin: "../../cmd/eksnet-agent", pluginBin: "../../cmd/eksnet-cni"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	return m.Run()
}

func newVPC(t testing.TB) *sim.VPC {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vpc, err := sim.New(ctx, sim.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logCloud(t, vpc)
		}
		if err := vpc.Close(); err != nil {
			t.Errorf("closing the simulated VPC: %v", err)
		}
	})
	return vpc
}

// logCloud shows the simulated EC2's view of every ENI, for failures.
func logCloud(t testing.TB, vpc *sim.VPC) {
	var b strings.Builder
	for _, e := range vpc.Cloud().State().ENIs {
		fmt.Fprintf(&b, "%s %s device %d mac %s primary %s secondary %v prefixes %v\n",
			e.InstanceID, e.ID, e.DeviceIndex, e.MAC, e.PrimaryIP, e.Secondary, e.Prefixes)
	}
	t.Logf("simulated EC2 ENIs:\n%s", b.String())
}

// node is one simulated node with a running eksnet-agent.
type node struct {
	t      testing.TB
	vpc    *sim.VPC
	sim    *sim.Node
	dir    string
	log    string
	cmd    *exec.Cmd
	done   chan error
	env    map[string]string
	client *rpc.Client
}

// startNode adds a node (in subnet, "" = the first) and runs `eksnet-agent
// run` in it with env on top of the defaults, as the user-data unit does.
func startNode(t testing.TB, vpc *sim.VPC, name, instanceType, subnet string, env map[string]string) *node {
	t.Helper()
	sn, err := vpc.AddNode(context.Background(), sim.NodeSpec{Name: name, InstanceType: instanceType, Subnet: subnet})
	if err != nil {
		t.Fatalf("AddNode %s: %v", name, err)
	}
	dir := t.TempDir()
	full := map[string]string{
		"EKSNET_CLUSTER":            "e2e",
		"EKSNET_CHECKPOINT_PATH":    filepath.Join(dir, "checkpoint.json"),
		"EKSNET_SOCKET_PATH":        filepath.Join(dir, "agent.sock"),
		"EKSNET_METRICS_ADDR":       "",
		"EKSNET_CNI_CONF_DIR":       filepath.Join(dir, "net.d"),
		"EKSNET_CNI_BIN_DIR":        filepath.Join(dir, "bin"),
		"EKSNET_CNI_PLUGIN_SOURCE":  pluginBin,
		"EKSNET_RECONCILE_INTERVAL": "5s",
	}
	for k, v := range env {
		full[k] = v
	}
	n := &node{t: t, vpc: vpc, sim: sn, dir: dir, log: filepath.Join(dir, "agent.log"), env: full,
		client: &rpc.Client{Path: full["EKSNET_SOCKET_PATH"], Timeout: 5 * time.Second}}
	n.startAgent()
	t.Cleanup(func() {
		n.stopAgent()
		if t.Failed() {
			b, _ := os.ReadFile(n.log)
			lines := strings.Split(string(b), "\n")
			t.Logf("%s agent log (tail):\n%s", name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	n.waitInstalled(90 * time.Second)
	return n
}

// startAgent runs `eksnet-agent run` in the node; its state (checkpoint,
// socket, CNI files) lives in the node's directory, so a restart finds it.
func (n *node) startAgent() {
	n.t.Helper()
	cmd := n.sim.Command(context.Background(), agentBin, "run")
	for k, v := range n.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logf, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		n.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("starting eksnet-agent in %s: %v", n.sim.Name, err)
	}
	logf.Close()
	n.cmd, n.done = cmd, make(chan error, 1)
	go func() { n.done <- cmd.Wait() }()
}

// stopAgent stops the agent with SIGTERM, as systemd does.
func (n *node) stopAgent() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
	n.cmd = nil
}

// waitInstalled waits for the agent to install the conflist, which it does
// only once it can serve an address.
func (n *node) waitInstalled(timeout time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-n.done:
			n.done <- err
			n.t.Fatalf("eksnet-agent on %s exited: %v", n.sim.Name, err)
		default:
		}
		if _, err := os.Stat(filepath.Join(n.dir, "net.d", cniconf.ConflistName)); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.t.Fatalf("eksnet-agent on %s installed no conflist within %v", n.sim.Name, timeout)
}

// pluginConf is the conflist's plugin entry with the list's name and version,
// as a runtime builds it.
func (n *node) pluginConf(extra map[string]any) []byte {
	n.t.Helper()
	b, err := os.ReadFile(filepath.Join(n.dir, "net.d", cniconf.ConflistName))
	if err != nil {
		n.t.Fatal(err)
	}
	var list struct {
		CNIVersion string           `json:"cniVersion"`
		Name       string           `json:"name"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		n.t.Fatal(err)
	}
	conf := list.Plugins[0]
	conf["cniVersion"], conf["name"] = list.CNIVersion, list.Name
	for k, v := range extra {
		conf[k] = v
	}
	out, err := json.Marshal(conf)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

// pod is a pod sandbox on a node.
type pod struct {
	name   string
	netns  string
	id     string
	result json.RawMessage
	addr   netip.Addr
}

// cniError is a CNI error result.
type cniError struct {
	Code    uint   `json:"code"`
	Msg     string `json:"msg"`
	Details string `json:"details"`
}

func (e *cniError) Error() string {
	return fmt.Sprintf("CNI error %d: %s (%s)", e.Code, e.Msg, e.Details)
}

// plugin execs the installed plugin in the node, as the runtime would.
func (n *node) plugin(command string, p *pod, stdin []byte) ([]byte, time.Duration, error) {
	n.t.Helper()
	cmd := n.sim.Command(context.Background(), filepath.Join(n.dir, "bin", cniconf.PluginType))
	cmd.Env = append(cmd.Env,
		"CNI_COMMAND="+command, "CNI_CONTAINERID="+p.id, "CNI_NETNS="+p.netns, "CNI_IFNAME=eth0",
		"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=e2e;K8S_POD_NAME="+p.name, "CNI_PATH="+filepath.Join(n.dir, "bin"))
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		var ce cniError
		if jerr := json.Unmarshal(stdout.Bytes(), &ce); jerr == nil && ce.Code != 0 {
			return nil, took, &ce
		}
		return nil, took, fmt.Errorf("%s %s: %v: %s %s", command, p.name, err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), took, nil
}

// newPod creates a pod namespace (not yet wired).
func (n *node) newPod(name string) *pod {
	n.t.Helper()
	path, err := n.vpc.NewPodNamespace(name)
	if err != nil {
		n.t.Fatal(err)
	}
	return &pod{name: name, netns: path, id: "sandbox-" + name}
}

// add runs ADD for p and records its address.
func (n *node) add(p *pod) (time.Duration, error) {
	n.t.Helper()
	out, took, err := n.plugin("ADD", p, n.pluginConf(nil))
	if err != nil {
		return took, err
	}
	var res struct {
		IPs []struct{ Address string } `json:"ips"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.IPs) != 1 {
		n.t.Fatalf("ADD %s result %s: %v", p.name, out, err)
	}
	pfx, err := netip.ParsePrefix(res.IPs[0].Address)
	if err != nil {
		n.t.Fatal(err)
	}
	p.result, p.addr = out, pfx.Addr()
	return took, nil
}

// addRetrying is ADD the way kubelet does it: a code 11 ("try again later",
// the warm pool catching up) is retried until timeout; "node full" is not.
func (n *node) addRetrying(p *pod, timeout time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := n.add(p)
		if err == nil {
			return
		}
		ce, ok := err.(*cniError)
		if !ok || ce.Code != 11 || strings.Contains(ce.Msg, "node full") || time.Now().After(deadline) {
			n.t.Fatalf("ADD %s on %s: %v", p.name, n.sim.Name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (n *node) del(p *pod) (time.Duration, error) {
	n.t.Helper()
	_, took, err := n.plugin("DEL", p, n.pluginConf(map[string]any{"prevResult": p.result}))
	return took, err
}

// allocation asks the agent which ENI the pod's address is on.
func (n *node) allocation(p *pod) rpc.Allocation {
	n.t.Helper()
	a, err := n.client.Check(context.Background(), rpc.Key{Network: cniconf.DefaultNetworkName, ContainerID: p.id, IfName: "eth0"})
	if err != nil {
		n.t.Fatalf("agent check %s: %v", p.name, err)
	}
	return a
}

// listen starts a TCP server in the pod that answers with the source
// address it saw.
func listen(t testing.TB, p *pod, port int) {
	t.Helper()
	ln, err := sim.ListenIn(p.netns, "tcp4", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		t.Fatalf("listening in %s: %v", p.name, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "%s\n", ap)
			c.Close()
		}
	}()
}

// sourceSeen connects from the namespace at path to addr and returns the
// source address the server reports ("addr:port" or "addr").
func sourceSeen(path string, addr netip.AddrPort) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := sim.DialIn(ctx, path, "tcp4", addr.String())
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return netip.Addr{}, fmt.Errorf("reading from %s: %w", addr, err)
	}
	line = strings.TrimSpace(line)
	if ap, err := netip.ParseAddrPort(line); err == nil {
		return ap.Addr(), nil
	}
	return netip.ParseAddr(line)
}

func expectSource(t testing.TB, what, from string, to netip.AddrPort, want netip.Addr) {
	t.Helper()
	got, err := sourceSeen(from, to)
	if err != nil {
		// EKSNET_E2E_PAUSE=1 keeps the namespaces for `ip netns exec` inspection.
		if os.Getenv("EKSNET_E2E_PAUSE") != "" {
			t.Logf("%s failed: %v; pausing for inspection", what, err)
			time.Sleep(90 * time.Second)
		}
		t.Fatalf("%s: %v", what, err)
	}
	if got != want {
		t.Fatalf("%s: the other end saw %s, want %s", what, got, want)
	}
}

// netipAddrPortOf is where listen serves for p.
func netipAddrPortOf(p *pod) netip.AddrPort { return netip.AddrPortFrom(p.addr, podPort) }
