package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/eksnet/eksnet/cni-agent/sim"
)

// plugin is one CNI plugin as a runtime calls it on the node.
type plugin struct {
	name string
	// bin is the executable, binDir the CNI_PATH.
	bin, binDir string
	// conf is the network configuration on stdin (without prevResult).
	conf map[string]any
	// wrapper, when set, are arguments after bin (bin is then the RSS
	// wrapper and wrapper[0] the plugin); extraEnv is added to the call's.
	wrapper  []string
	extraEnv []string
}

// call is one exec's outcome.
type call struct {
	out  []byte
	took time.Duration
}

// exec runs the plugin in the node namespace with the CNI_* variables, as
// containerd does; DEL and CHECK get the ADD result as prevResult.
func (p plugin) exec(ctx context.Context, node *sim.Node, command, containerID, netns, podName string, prevResult []byte) (call, error) {
	conf := make(map[string]any, len(p.conf)+1)
	for k, v := range p.conf {
		conf[k] = v
	}
	if prevResult != nil {
		conf["prevResult"] = json.RawMessage(prevResult)
	}
	stdin, err := json.Marshal(conf)
	if err != nil {
		return call{}, fmt.Errorf("encoding the %s configuration: %w", p.name, err)
	}
	cmd := exec.CommandContext(ctx, p.bin, p.wrapper...)
	cmd.Env = sim.CommandEnv(os.Environ(), node.Env())
	cmd.Env = append(cmd.Env, p.extraEnv...)
	cmd.Env = append(cmd.Env,
		"CNI_COMMAND="+command, "CNI_CONTAINERID="+containerID, "CNI_NETNS="+netns, "CNI_IFNAME=eth0",
		"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME="+podName, "CNI_PATH="+p.binDir)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	// The plugin starts straight in the node namespace, as a runtime execs it
	// from the host's: a child inherits the network namespace of the thread
	// that forks it. ip netns exec (node.Command) would add a process and a
	// /sys remount, 6-10 ms here, to every call of either plugin.
	if err = sim.RunIn(node.NetNSPath(), cmd.Start); err == nil {
		err = cmd.Wait()
	}
	c := call{out: stdout.Bytes(), took: time.Since(start)}
	if err != nil {
		return c, fmt.Errorf("%s %s of pod %s: %w: %s %s", p.name, command, podName, err,
			strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()))
	}
	return c, nil
}

// resultAddr is the IPv4 address of an ADD result.
func resultAddr(out []byte) (netip.Addr, error) {
	var res struct {
		IPs []struct {
			Address string `json:"address"`
		} `json:"ips"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return netip.Addr{}, fmt.Errorf("decoding the ADD result %q: %w", out, err)
	}
	if len(res.IPs) != 1 {
		return netip.Addr{}, fmt.Errorf("ADD result %q: %d addresses, want 1", out, len(res.IPs))
	}
	pfx, err := netip.ParsePrefix(res.IPs[0].Address)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("ADD result address %q: %w", res.IPs[0].Address, err)
	}
	return pfx.Addr(), nil
}

// peerPlugin is ptp + host-local with ipMasq, in a range of its own outside
// the VPC, its IPAM state in dataDir.
func peerPlugin(binDir, dataDir string) plugin {
	return plugin{name: "ptp", bin: filepath.Join(binDir, "ptp"), binDir: binDir, conf: map[string]any{
		"cniVersion": "1.0.0", "name": "peer", "type": "ptp", "ipMasq": true, "mtu": 9001,
		"ipam": map[string]any{
			"type": "host-local", "dataDir": dataDir,
			"ranges": []any{[]any{map[string]any{"subnet": "10.250.0.0/16"}}},
			"routes": []any{map[string]any{"dst": "0.0.0.0/0"}},
		},
	}}
}
