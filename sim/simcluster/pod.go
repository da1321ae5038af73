package simcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/vishvananda/netns"

	"github.com/eksnet/eksnet/cni-agent/cniconf"
	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/sim"
)

// PodNamespace is the Kubernetes namespace CNI_ARGS names for every pod.
const PodNamespace = "simcluster"

// Pod is a pod sandbox on a node: its network namespace, the container ID
// the runtime would pass, and once ADD succeeded, the result and address.
type Pod struct {
	Name        string
	NetNS       string
	ContainerID string
	Node        *Node
	// Result is the ADD result, replayed as prevResult on DEL and CHECK.
	Result json.RawMessage
	// Addr is the pod's eth0 address from the ADD result.
	Addr netip.Addr
	// Sandbox counts the pod's sandboxes before this one (NewSandbox).
	Sandbox int
}

// CNIError is a CNI error result the plugin printed (code, msg, details).
type CNIError struct {
	Code    uint   `json:"code"`
	Msg     string `json:"msg"`
	Details string `json:"details"`
}

func (e *CNIError) Error() string {
	if e.Details == "" {
		return fmt.Sprintf("CNI error %d: %s", e.Code, e.Msg)
	}
	return fmt.Sprintf("CNI error %d: %s (%s)", e.Code, e.Msg, e.Details)
}

// TryAgainLater is CNI code 11: the runtime retries the sandbox.
const TryAgainLater = 11

// Retriable reports whether err is the plugin's "try again later" for a
// pool that is catching up, which kubelet retries; "node full" is not.
func Retriable(err error) bool {
	var ce *CNIError
	return errors.As(err, &ce) && ce.Code == TryAgainLater && !strings.Contains(ce.Msg, "node full")
}

// NewPod creates the pod's network namespace (empty, lo up), as the runtime
// does before ADD. name must be unique in the cluster: 1-32 of a-z, 0-9, '-'.
// The namespace is the node's: a reboot of the node removes it.
func (n *Node) NewPod(name string) (*Pod, error) {
	path, err := n.sim.NewPodNamespace(name)
	if err != nil {
		return nil, fmt.Errorf("creating the sandbox of pod %s on %s: %w", name, n.Name(), err)
	}
	return &Pod{Name: name, NetNS: path, ContainerID: "sandbox-" + name, Node: n}, nil
}

// NewSandbox is what the runtime does for a pod whose sandbox died (the
// node rebooted): a new sandbox for the same pod, with a new container ID
// and a new network namespace, not yet added. p is left as it was, so a
// runtime's DEL of the dead sandbox can still be replayed with it.
func (n *Node) NewSandbox(p *Pod) (*Pod, error) {
	gen := p.Sandbox + 1
	ns := fmt.Sprintf("%s-s%d", p.Name, gen)
	path, err := n.sim.NewPodNamespace(ns)
	if err != nil {
		return nil, fmt.Errorf("creating sandbox %d of pod %s on %s: %w", gen, p.Name, n.Name(), err)
	}
	return &Pod{Name: p.Name, NetNS: path, ContainerID: fmt.Sprintf("sandbox-%s-%d", p.Name, gen), Node: n, Sandbox: gen}, nil
}

// pluginConf is the conflist's plugin entry with the list's cniVersion and
// name, plus extra keys (prevResult), as libcni hands it to a plugin.
func (n *Node) pluginConf(extra map[string]any) ([]byte, error) {
	b, err := os.ReadFile(n.ConflistPath())
	if err != nil {
		return nil, fmt.Errorf("reading the conflist of %s: %w", n.Name(), err)
	}
	var list struct {
		Name    string           `json:"name"`
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", n.ConflistPath(), err)
	}
	if len(list.Plugins) == 0 {
		return nil, fmt.Errorf("parsing %s: no plugins", n.ConflistPath())
	}
	// The version containerd 2 and CRI-O call with: libcni picks the newest
	// of "cniVersions" it implements (1.1.0, which GC and STATUS need), not
	// "cniVersion" (1.0.0, for containerd 1.7).
	picked, err := libcni.ConfListFromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", n.ConflistPath(), err)
	}
	conf := list.Plugins[0]
	conf["cniVersion"], conf["name"] = picked.CNIVersion, list.Name
	for k, v := range extra {
		conf[k] = v
	}
	return json.Marshal(conf)
}

// Exec runs the installed plugin for p with command (ADD, DEL, CHECK) inside
// the node, as a runtime does: CNI_* variables, the plugin entry on stdin.
// It returns stdout and how long the exec took; a CNI error result comes
// back as *CNIError.
func (n *Node) Exec(ctx context.Context, command string, p *Pod, extra map[string]any) ([]byte, time.Duration, error) {
	stdin, err := n.pluginConf(extra)
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.CommandContext(ctx, n.PluginPath())
	cmd.Env = append(sim.CommandEnv(os.Environ(), n.sim.Env()),
		"CNI_COMMAND="+command, "CNI_CONTAINERID="+p.ContainerID, "CNI_NETNS="+p.NetNS, "CNI_IFNAME=eth0",
		"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE="+PodNamespace+";K8S_POD_NAME="+p.Name,
		"CNI_PATH="+filepath.Dir(n.PluginPath()))
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err = n.sim.Start(cmd); err == nil {
		err = cmd.Wait()
	}
	took := time.Since(start)
	if err != nil {
		var ce CNIError
		if jerr := json.Unmarshal(stdout.Bytes(), &ce); jerr == nil && ce.Code != 0 {
			return nil, took, &ce
		}
		return nil, took, fmt.Errorf("%s of pod %s on %s: %w: %s %s", command, p.Name, n.Name(), err, strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), took, nil
}

// Add runs one ADD for p and records its result and address.
func (n *Node) Add(ctx context.Context, p *Pod) (time.Duration, error) {
	out, took, err := n.Exec(ctx, "ADD", p, nil)
	if err != nil {
		return took, err
	}
	addr, err := ResultAddr(out)
	if err != nil {
		return took, fmt.Errorf("ADD of pod %s on %s: %w", p.Name, n.Name(), err)
	}
	p.Result, p.Addr = out, addr
	return took, nil
}

// ResultAddr is the single IPv4 address of a CNI ADD result.
func ResultAddr(out []byte) (netip.Addr, error) {
	var res struct {
		IPs []struct {
			Address string `json:"address"`
		} `json:"ips"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return netip.Addr{}, fmt.Errorf("parsing result %q: %w", out, err)
	}
	if len(res.IPs) != 1 {
		return netip.Addr{}, fmt.Errorf("result %s: want one address, got %d", out, len(res.IPs))
	}
	pfx, err := netip.ParsePrefix(res.IPs[0].Address)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("result address %q: %w", res.IPs[0].Address, err)
	}
	return pfx.Addr(), nil
}

// AddResult is how one pod's ADD went, retries included.
type AddResult struct {
	// Took is the successful ADD's exec: what one kubelet call waited.
	Took time.Duration
	// Tries counts ADDs, the successful one included.
	Tries int
	// Elapsed is from the first ADD to the end of the last.
	Elapsed time.Duration
}

// RetryInterval is the pause between ADDs that answered "try again later".
const RetryInterval = 200 * time.Millisecond

// AddRetrying is ADD the way kubelet does it: code 11 while the warm pool
// catches up is retried until timeout; any other error, "node full" included,
// is returned at once. On timeout the last error is returned.
func (n *Node) AddRetrying(ctx context.Context, p *Pod, timeout time.Duration) (AddResult, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	var res AddResult
	for {
		took, err := n.Add(ctx, p)
		res.Tries++
		res.Elapsed = time.Since(start)
		if err == nil {
			res.Took = took
			return res, nil
		}
		if !Retriable(err) || time.Now().Add(RetryInterval).After(deadline) {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("ADD of pod %s on %s: %w (last: %w)", p.Name, n.Name(), ctx.Err(), err)
		case <-time.After(RetryInterval):
		}
	}
}

// Del runs DEL for p with its ADD result as prevResult.
func (n *Node) Del(ctx context.Context, p *Pod) (time.Duration, error) {
	var extra map[string]any
	if p.Result != nil {
		extra = map[string]any{"prevResult": p.Result}
	}
	_, took, err := n.Exec(ctx, "DEL", p, extra)
	return took, err
}

// Check runs CHECK for p against its ADD result.
func (n *Node) Check(ctx context.Context, p *Pod) error {
	if p.Result == nil {
		return fmt.Errorf("CHECK of pod %s on %s: no ADD result", p.Name, n.Name())
	}
	_, _, err := n.Exec(ctx, "CHECK", p, map[string]any{"prevResult": p.Result})
	return err
}

// Remove runs DEL for p, then deletes its network namespace, as the runtime
// does when a pod goes away.
func (n *Node) Remove(ctx context.Context, p *Pod) (time.Duration, error) {
	took, err := n.Del(ctx, p)
	if err != nil {
		return took, err
	}
	if err := netns.DeleteNamed(filepath.Base(p.NetNS)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return took, fmt.Errorf("deleting the sandbox of pod %s: %w", p.Name, err)
	}
	return took, nil
}

// Allocation asks the agent which address and ENI p holds.
func (n *Node) Allocation(ctx context.Context, p *Pod) (rpc.Allocation, error) {
	a, err := n.Client().Check(ctx, rpc.Key{Network: cniconf.DefaultNetworkName, ContainerID: p.ContainerID, IfName: "eth0"})
	if err != nil {
		return a, fmt.Errorf("agent check of pod %s on %s: %w", p.Name, n.Name(), err)
	}
	return a, nil
}
