package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/eksnet/eksnet/sim"
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
	// Straight into the node namespace, as a runtime execs a plugin: not
	// through ip netns exec, which would add 6-10 ms to every call of either
	// plugin (sim.Node.Start).
	if err = node.Start(cmd); err == nil {
		err = cmd.Wait()
	}
	c := call{out: stdout.Bytes(), took: time.Since(start)}
	if err != nil {
		return c, fmt.Errorf("%s %s of pod %s: %w: %s %s", p.name, command, podName, err,
			strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()))
	}
	return c, nil
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
