package simcluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/eksnet/eksnet/cni-agent/cniconf"
	"github.com/eksnet/eksnet/cni-agent/crashloop"
	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/sim"
)

// StopGrace is how long Stop waits after SIGTERM before SIGKILL, as
// systemd's TimeoutStopSec would (shorter: nothing here needs 90 s).
const StopGrace = 15 * time.Second

// Node is one simulated instance and its eksnet-agent process.
type Node struct {
	c   *Cluster
	sim *sim.Node
	dir string

	mu sync.Mutex
	// bins are the agent and plugin installed on the node (the cluster's
	// until Upgrade); env the agent's settings. Both change only while the
	// agent is stopped.
	bins   Binaries
	env    map[string]string
	proc   *exec.Cmd
	done   chan struct{} // closed when proc has exited
	exit   error         // proc's exit, valid once done is closed
	starts int
}

func newNode(c *Cluster, sn *sim.Node, dir string, env map[string]string) *Node {
	full := maps.Clone(env)
	if full == nil {
		full = map[string]string{}
	}
	if full["EKSNET_CLUSTER"] == "" {
		full["EKSNET_CLUSTER"] = c.vpc.Name()
	}
	// The node's own paths win over anything user data says: every node of
	// the simulation shares the host's filesystem.
	maps.Copy(full, map[string]string{
		"EKSNET_CHECKPOINT_PATH":   filepath.Join(dir, "checkpoint.json"),
		"EKSNET_SOCKET_PATH":       filepath.Join(runDir(dir), "agent.sock"),
		"EKSNET_METRICS_ADDR":      "",
		"EKSNET_CNI_CONF_DIR":      filepath.Join(dir, "net.d"),
		"EKSNET_CNI_BIN_DIR":       filepath.Join(dir, "bin"),
		"EKSNET_CNI_PLUGIN_SOURCE": c.bins.Plugin,
	})
	// AL2023 user data points the agent at nodeadm's marker and at
	// /etc/systemd/network: on the shared host filesystem those are the
	// host's, so the node gets its own. The simulated node has no nodeadm;
	// AddNode writes the marker at boot, as nodeadm's run phase would.
	if full["EKSNET_ATTACH_AFTER"] != "" {
		full["EKSNET_ATTACH_AFTER"] = filepath.Join(runDir(dir), "nodeadm", "init")
	}
	if full["EKSNET_NETWORKD_DIR"] != "" {
		full["EKSNET_NETWORKD_DIR"] = filepath.Join(dir, "systemd-network")
	}
	return &Node{c: c, sim: sn, dir: dir, env: full, bins: c.bins}
}

// runDir is the node's /run: the agent's socket and nodeadm's marker live
// there, and a reboot empties it (tmpfs). Everything else in the node's
// directory is its disk (/var/lib/eksnet, /etc, /opt/cni) and survives.
func runDir(dir string) string { return filepath.Join(dir, "run") }

// writeNodeadmMarker plays nodeadm for a node whose agent waits for its
// marker (EKSNET_ATTACH_AFTER): nodeadm writes it once its run phase is done.
func (n *Node) writeNodeadmMarker() error {
	marker := n.env["EKSNET_ATTACH_AFTER"]
	if marker == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(marker), 0o755); err != nil {
		return fmt.Errorf("node %s: nodeadm marker: %w", n.Name(), err)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return fmt.Errorf("node %s: nodeadm marker: %w", n.Name(), err)
	}
	return nil
}

// Name is the node's name.
func (n *Node) Name() string { return n.sim.Name }

// Sim is the simulated instance: primary IP, instance type, namespace.
func (n *Node) Sim() *sim.Node { return n.sim }

// Dir is the node's state directory: its disk, which a reboot keeps.
func (n *Node) Dir() string { return n.dir }

// RunDir is the node's /run (inside Dir), which a reboot empties.
func (n *Node) RunDir() string { return runDir(n.dir) }

// Env returns the agent's settings (user data's plus the node's paths).
func (n *Node) Env() map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.env)
}

// Binaries are the agent and plugin installed on the node.
func (n *Node) Binaries() Binaries {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.bins
}

// EnvFile is the agent.env written for this node, in user data's format.
func (n *Node) EnvFile() string { return filepath.Join(n.dir, "agent.env") }

// LogPath is where the agent's stdout and stderr go, across restarts.
func (n *Node) LogPath() string { return filepath.Join(n.dir, "agent.log") }

// ConflistPath is the conflist the agent installs once it is ready.
func (n *Node) ConflistPath() string {
	return filepath.Join(n.env["EKSNET_CNI_CONF_DIR"], cniconf.ConflistName)
}

// PluginPath is the installed plugin, as the runtime finds it in CNI_PATH.
func (n *Node) PluginPath() string {
	return filepath.Join(n.env["EKSNET_CNI_BIN_DIR"], cniconf.PluginType)
}

// Client talks to the node's agent over its socket.
func (n *Node) Client() *rpc.Client {
	return &rpc.Client{Path: n.env["EKSNET_SOCKET_PATH"], Timeout: 5 * time.Second}
}

// Status asks the agent for its pool and readiness.
func (n *Node) Status(ctx context.Context) (rpc.Status, error) {
	st, err := n.Client().Status(ctx)
	if err != nil {
		return st, fmt.Errorf("status of the agent on %s: %w", n.Name(), err)
	}
	return st, nil
}

// writeEnvFile writes agent.env as user data does, sorted so it diffs well.
func (n *Node) writeEnvFile() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.writeEnvFileLocked()
}

func (n *Node) writeEnvFileLocked() error {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(n.env)) {
		fmt.Fprintf(&b, "%s=%s\n", k, n.env[k])
	}
	if err := os.WriteFile(n.EnvFile(), []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("writing agent.env of node %s: %w", n.Name(), err)
	}
	return nil
}

// command runs the agent binary with args inside the node, with the node's
// AWS environment (endpoints of the fakes) and the agent's settings, as
// systemd's EnvironmentFile gives them; n.mu held.
func (n *Node) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := n.sim.Command(ctx, n.bins.Agent, args...)
	for _, k := range slices.Sorted(maps.Keys(n.env)) {
		cmd.Env = append(cmd.Env, k+"="+n.env[k])
	}
	return cmd
}

// Start does what the user-data unit does: `eksnet-agent install` (the
// ExecStartPre that puts the plugin in place) then `eksnet-agent run` in the
// background, output appended to LogPath. Starting a running agent is an error.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil && !n.exited() {
		return fmt.Errorf("starting the agent on %s: already running (pid %d)", n.Name(), n.proc.Process.Pid)
	}
	logf, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening the agent log of %s: %w", n.Name(), err)
	}
	defer logf.Close()
	install := n.command(ctx, "install")
	install.Stdout, install.Stderr = logf, logf
	if err := install.Run(); err != nil {
		return fmt.Errorf("eksnet-agent install on %s: %w; log tail:\n%s", n.Name(), err, n.LogTail(10))
	}
	// Not tied to ctx: the agent outlives the call, as under systemd; Stop
	// and Kill end it.
	run := n.command(context.WithoutCancel(ctx), "run")
	run.Stdout, run.Stderr = logf, logf
	// No Pdeathsig: it fires when the forking OS thread exits, and the
	// sim package discards threads it locked into namespaces, so a live
	// agent could be killed at random. Close stops agents instead.
	if err := run.Start(); err != nil {
		return fmt.Errorf("starting eksnet-agent run on %s: %w", n.Name(), err)
	}
	done := make(chan struct{})
	n.proc, n.done, n.exit = run, done, nil
	n.starts++
	go func() {
		err := run.Wait()
		// As systemd runs ExecStopPost, the stop hook runs after every
		// exit and before anything may start the agent again.
		n.stopPost(ctx, crashloop.ExitOf(run.ProcessState))
		n.mu.Lock()
		n.exit = err
		n.mu.Unlock()
		close(done)
	}()
	return nil
}

// stopPost runs the unit's ExecStopPost, `eksnet-agent withdraw`, with
// systemd's account of the exit in its environment; its output goes to
// the agent log, as the journal would hold it.
func (n *Node) stopPost(ctx context.Context, exit crashloop.Exit) {
	logf, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer logf.Close()
	n.mu.Lock()
	hook := n.command(context.WithoutCancel(ctx), "withdraw")
	n.mu.Unlock()
	hook.Env = append(hook.Env, exit.Env()...)
	hook.Stdout, hook.Stderr = logf, logf
	if err := hook.Run(); err != nil {
		fmt.Fprintf(logf, "simcluster: ExecStopPost eksnet-agent withdraw on %s (%s): %v\n", n.Name(), exit, err)
	}
}

// exited reports whether the current process has exited; n.mu held.
func (n *Node) exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// Running reports whether the agent process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && !n.exited()
}

// PID is the agent's process id, 0 when none was started.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return 0
	}
	return n.proc.Process.Pid
}

// Starts counts how often the agent was started on this node.
func (n *Node) Starts() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.starts
}

// Done is closed when the current agent process exits (nil before Start).
func (n *Node) Done() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.done
}

// Stop ends the agent as systemd does: SIGTERM, then SIGKILL after
// StopGrace (or when ctx ends). Stopping a stopped agent is a no-op.
func (n *Node) Stop(ctx context.Context) error {
	return n.signal(ctx, syscall.SIGTERM)
}

// Kill ends the agent with SIGKILL, as a crash or OOM kill would, and waits
// for it to be gone.
func (n *Node) Kill(ctx context.Context) error {
	return n.signal(ctx, syscall.SIGKILL)
}

func (n *Node) signal(ctx context.Context, sig syscall.Signal) error {
	n.mu.Lock()
	proc, done := n.proc, n.done
	n.mu.Unlock()
	if proc == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := proc.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sending %v to the agent on %s: %w", sig, n.Name(), err)
	}
	t := time.NewTimer(StopGrace)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	_ = proc.Process.Kill()
	<-done
	if sig == syscall.SIGTERM {
		return fmt.Errorf("agent on %s ignored SIGTERM for %v and was killed", n.Name(), StopGrace)
	}
	return nil
}

// WaitReady waits, as kubelet does before it marks the node Ready, for the
// agent to install the conflist (it does so only once it can hand out an
// address). It fails at once if the agent exits, quoting its log's tail.
func (n *Node) WaitReady(ctx context.Context) error {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return fmt.Errorf("waiting for the conflist on %s: the agent was never started", n.Name())
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(n.ConflistPath()); err == nil {
			return nil
		}
		select {
		case <-done:
			n.mu.Lock()
			exit := n.exit
			n.mu.Unlock()
			return fmt.Errorf("eksnet-agent on %s exited before installing the conflist: %v; log tail:\n%s", n.Name(), exit, n.LogTail(20))
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s on %s: %w; log tail:\n%s", n.ConflistPath(), n.Name(), ctx.Err(), n.LogTail(20))
		case <-tick.C:
		}
	}
}

// LogTail returns the last lines of the agent log.
func (n *Node) LogTail(lines int) string {
	b, err := os.ReadFile(n.LogPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// WaitServing waits until the agent answers Status on its socket: after a
// crash the conflist may still be in place (the stop hook withdraws it only
// on a clean stop or a crash loop), so WaitReady returns at once while the
// new process may not serve yet.
func (n *Node) WaitServing(ctx context.Context) error {
	done := n.Done()
	if done == nil {
		return fmt.Errorf("waiting for the agent on %s to serve: the agent was never started", n.Name())
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := n.Client().Status(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("eksnet-agent on %s exited before serving: %w; log tail:\n%s", n.Name(), err, n.LogTail(20))
		case <-ctx.Done():
			return fmt.Errorf("waiting for the agent on %s to serve: %w (last: %w)", n.Name(), ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// DefaultVethPrefix is the host-side veth prefix when the node's env sets
// no EKSNET_VETH_PREFIX (the agent's default).
const DefaultVethPrefix = "eni"

// PodVeths counts the host-side pod veths in the node's namespace (veths
// named with the node's veth prefix): what a failed ADD or a DEL must not
// leave behind.
func (n *Node) PodVeths() (int, error) {
	prefix := n.env["EKSNET_VETH_PREFIX"]
	if prefix == "" {
		prefix = DefaultVethPrefix
	}
	count := 0
	err := sim.RunIn(n.sim.NetNSPath(), func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if l.Type() == "veth" && strings.HasPrefix(l.Attrs().Name, prefix) {
				count++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("listing the pod veths of %s: %w", n.Name(), err)
	}
	return count, nil
}

// PodRules lists the policy rules at the agent's pod priorities in the
// node's namespace as "from|to PREFIX table N": the rules that must follow
// the addresses in the pool, and leak if one outlives its address.
func (n *Node) PodRules() ([]PodRule, error) {
	var out []PodRule
	err := sim.RunIn(n.sim.NetNSPath(), func() error {
		rules, err := netlink.RuleList(netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range rules {
			if r.Priority != datapath.ToPodRulePriority && r.Priority != datapath.FromPodRulePriority {
				continue
			}
			pr := PodRule{Table: r.Table}
			switch {
			case r.Src != nil:
				pr.From = true
				pr.Prefix, _ = netip.ParsePrefix(r.Src.String())
			case r.Dst != nil:
				pr.Prefix, _ = netip.ParsePrefix(r.Dst.String())
			}
			out = append(out, pr)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the pod rules of %s: %w", n.Name(), err)
	}
	return out, nil
}

// PodRule is one policy rule at a pod priority: from (source) or to
// (destination) Prefix, looked up in Table.
type PodRule struct {
	From   bool
	Prefix netip.Prefix
	Table  int
}

func (r PodRule) String() string {
	dir := "to"
	if r.From {
		dir = "from"
	}
	return fmt.Sprintf("%s %s table %d", dir, r.Prefix, r.Table)
}
