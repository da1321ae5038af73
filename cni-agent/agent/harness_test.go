package agent_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/sim"
)

// The agent and plugin binaries, built once by TestMain: the tests run the
// agent as a real subprocess inside a simulated node, as user data does.
var agentBin, pluginBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "eksnet-agent-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	agentBin = filepath.Join(dir, "eksnet-agent")
	pluginBin = filepath.Join(dir, "eksnet-cni")
	for bin, pkg := range map[string]string{agentBin: "../../cmd/eksnet-agent", pluginBin: "../../cmd/eksnet-cni"} {
		args := []string{"build", "-o", bin}
		if raceEnabled && bin == agentBin {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, pkg)...).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	return m.Run()
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
}

// newVPC builds a simulated VPC removed when the test ends.
func newVPC(t *testing.T) *sim.VPC {
	t.Helper()
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vpc, err := sim.New(ctx, sim.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	t.Cleanup(func() {
		if err := vpc.Close(); err != nil {
			t.Errorf("closing the simulated VPC: %v", err)
		}
	})
	return vpc
}

func addNode(t *testing.T, vpc *sim.VPC, name, instanceType string) *sim.Node {
	t.Helper()
	n, err := vpc.AddNode(context.Background(), sim.NodeSpec{Name: name, InstanceType: instanceType})
	if err != nil {
		t.Fatalf("AddNode %s: %v", name, err)
	}
	return n
}

// agentProc is one eksnet-agent process inside a node.
type agentProc struct {
	t      *testing.T
	node   *sim.Node
	dir    string
	env    map[string]string
	cmd    *exec.Cmd
	done   chan error
	log    string
	client *rpc.Client
}

// startAgent runs `eksnet-agent run` in the node with its state under dir
// (a fresh temp dir when empty) and env on top of the test defaults.
func startAgent(t *testing.T, node *sim.Node, dir string, env map[string]string) *agentProc {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	full := map[string]string{
		"EKSNET_CLUSTER":            "agent-test",
		"EKSNET_CHECKPOINT_PATH":    filepath.Join(dir, "checkpoint.json"),
		"EKSNET_SOCKET_PATH":        filepath.Join(dir, "agent.sock"),
		"EKSNET_METRICS_ADDR":       "127.0.0.1:61678", // the node's own loopback
		"EKSNET_CNI_CONF_DIR":       filepath.Join(dir, "net.d"),
		"EKSNET_CNI_BIN_DIR":        filepath.Join(dir, "bin"),
		"EKSNET_CNI_PLUGIN_SOURCE":  pluginBin,
		"EKSNET_RECONCILE_INTERVAL": "2s",
	}
	for k, v := range env {
		full[k] = v
	}
	p := &agentProc{t: t, node: node, dir: dir, env: full, log: filepath.Join(dir, fmt.Sprintf("agent-%d.log", time.Now().UnixNano())),
		client: &rpc.Client{Path: full["EKSNET_SOCKET_PATH"], Timeout: 5 * time.Second}}
	p.start()
	t.Cleanup(func() {
		p.stop()
		if b, _ := os.ReadFile(p.log); strings.Contains(string(b), "WARNING: DATA RACE") {
			t.Errorf("data race in the agent")
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			lines := strings.Split(string(b), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			t.Logf("agent log (tail):\n%s", strings.Join(lines, "\n"))
		}
	})
	return p
}

func (p *agentProc) start() {
	p.t.Helper()
	cmd := p.node.Command(context.Background(), agentBin, "run", "--debug")
	for k, v := range p.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("starting the agent: %v", err)
	}
	logf.Close()
	p.cmd = cmd
	p.done = make(chan error, 1)
	go func() { p.done <- cmd.Wait() }()
}

// kill9 kills the agent the hard way and waits for it.
func (p *agentProc) kill9() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

func (p *agentProc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// alive fails the test if the agent exited.
func (p *agentProc) alive() {
	p.t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		p.t.Fatalf("the agent exited: %v", err)
	default:
	}
}

// waitFor polls the agent's status until cond holds.
func (p *agentProc) waitFor(what string, timeout time.Duration, cond func(rpc.Status) bool) rpc.Status {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var last rpc.Status
	var lastErr error
	for time.Now().Before(deadline) {
		p.alive()
		st, err := p.client.Status(context.Background())
		if err == nil && cond(st) {
			return st
		}
		last, lastErr = st, err
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("timed out after %v waiting for %s; last status %+v, err %v", timeout, what, last, lastErr)
	return last
}

func key(i int) rpc.Key {
	return rpc.Key{Network: "eksnet", ContainerID: fmt.Sprintf("container-%03d", i), IfName: "eth0"}
}

// allocate asks for an address, retrying while the warm pool is still
// growing (what kubelet does), but not when the node is full.
func (p *agentProc) allocate(k rpc.Key) rpc.Allocation {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		al, err := p.client.Allocate(context.Background(), rpc.AllocateRequest{Key: k, PodNamespace: "default", PodName: k.ContainerID})
		if err == nil {
			return al
		}
		if rpc.CodeOf(err) != rpc.CodeNoAddresses || strings.Contains(err.Error(), "node full") || time.Now().After(deadline) {
			p.t.Fatalf("allocate %s: %v", k, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metrics scrapes the agent's /metrics from inside the node.
func (p *agentProc) metrics() map[string]float64 {
	p.t.Helper()
	resp, err := p.node.HTTPClient().Get("http://127.0.0.1:61678/metrics")
	if err != nil {
		p.t.Fatalf("scraping metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		p.t.Fatalf("scraping metrics: %s", resp.Status)
	}
	return parseMetrics(p.t, resp.Body)
}

func parseMetrics(t *testing.T, r io.Reader) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndex(line, " ")
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// ec2Calls counts the EC2 calls the simulated VPC answered, all actions.
func ec2Calls(vpc *sim.VPC) (total int, byAction map[string]int) {
	byAction = map[string]int{}
	for _, c := range vpc.Calls().Log {
		if c.Service == "ec2" {
			total++
			byAction[c.Action]++
		}
	}
	return total, byAction
}

func isNoAddresses(err error) bool {
	var e *rpc.Error
	return errors.As(err, &e) && e.Code == rpc.CodeNoAddresses
}

// describeENI asks the simulated EC2 about an ENI, from inside the node.
func describeENI(t *testing.T, vpc *sim.VPC, node *sim.Node, eniID string) types.NetworkInterface {
	t.Helper()
	c := ec2.New(ec2.Options{Region: vpc.Region(), BaseEndpoint: aws.String(vpc.EC2Endpoint()),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIATEST", SecretAccessKey: "test"}, nil
		}), HTTPClient: node.HTTPClient()})
	out, err := c.DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eniID}})
	if err != nil || len(out.NetworkInterfaces) != 1 {
		t.Fatalf("describing %s: %v", eniID, err)
	}
	return out.NetworkInterfaces[0]
}

func deleteOnTermination(t *testing.T, vpc *sim.VPC, node *sim.Node, eniID string) bool {
	ni := describeENI(t, vpc, node, eniID)
	return ni.Attachment != nil && aws.ToBool(ni.Attachment.DeleteOnTermination)
}

// ec2Addresses counts the secondary addresses EC2 holds on an ENI.
func ec2Addresses(t *testing.T, vpc *sim.VPC, node *sim.Node, eniID string) int {
	t.Helper()
	ni := describeENI(t, vpc, node, eniID)
	n := 0
	for _, ip := range ni.PrivateIpAddresses {
		if !aws.ToBool(ip.Primary) {
			n++
		}
	}
	return n + 16*len(ni.Ipv4Prefixes)
}

// rssKiB reads the agent's resident set size.
func (p *agentProc) rssKiB() int {
	p.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		p.t.Fatalf("reading the agent's status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				p.t.Fatalf("VmRSS %q: %v", v, err)
			}
			return n
		}
	}
	p.t.Fatal("no VmRSS in the agent's status")
	return 0
}
