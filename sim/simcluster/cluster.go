// Package simcluster runs the real node software on the simulated VPC
// (package sim) the way a real cluster does, as a library: the eksnet-agent
// binary started in a node namespace with the environment user data gives it
// (EnvironmentFile + ExecStartPre install + run, as the systemd unit does),
// the conflist awaited as kubelet awaits it, and pods created and deleted by
// exec'ing the installed eksnet-cni plugin inside the node namespace with the
// CNI_* variables and the conflist's plugin entry on stdin, as a container
// runtime does. Probes then prove what the kernel really does: a listener in
// a pod that reports the source it saw (pod <-> pod without NAT) and the
// simulated internet's echo (pod -> internet SNATed to the node IP).
//
// `eksnet sim run`, the end-to-end tests and the benchmark and crash tests
// build on it. It imports no Pulumi and needs root (network namespaces).
//
//	c, err := simcluster.New(ctx, simcluster.Config{Binaries: bins, Logger: log})
//	defer c.Close()
//	n, err := c.AddNode(ctx, simcluster.NodeSpec{Name: "node-0", InstanceType: "t3.medium"})
//	err = n.Start(ctx)
//	err = n.WaitReady(ctx)
//	p, err := n.NewPod("web-0")
//	res, err := n.AddRetrying(ctx, p, time.Minute)
//	src, err := simcluster.SourceSeen(ctx, p.NetNS, c.VPC().InternetEcho())
package simcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/eksnet/eksnet/cni-agent/cniconf"
	"github.com/eksnet/eksnet/sim"
)

// Config describes a cluster to start.
type Config struct {
	// VPC is the simulated VPC's layout (name, CIDR, subnets, limits).
	VPC sim.Config
	// Binaries are the agent and plugin to run; both are required.
	Binaries Binaries
	// Dir holds each node's state (agent.env, checkpoint, socket, CNI conf
	// and bin dirs, agent log); empty = a new temporary directory that
	// Close removes. A given Dir is left in place.
	Dir string
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Cluster is a simulated VPC with nodes that run the real agent.
type Cluster struct {
	vpc     *sim.VPC
	bins    Binaries
	dir     string
	ownsDir bool
	log     *slog.Logger

	mu      sync.Mutex
	nodes   []*Node
	closed  bool
	onClose []func() error
}

// New builds the simulated VPC; on error nothing of it remains.
func New(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	if err := cfg.Binaries.Check(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{bins: cfg.Binaries, dir: cfg.Dir, log: cfg.Logger}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "eksnet-simcluster-"); err != nil {
			return nil, fmt.Errorf("creating the cluster's state directory: %w", err)
		}
		c.ownsDir = true
	} else if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the cluster's state directory %s: %w", c.dir, err)
	}
	defer func() {
		if err != nil && c.ownsDir {
			_ = os.RemoveAll(c.dir)
		}
	}()
	if c.bins.Companions != "" {
		if c.bins.Plugin, err = stageBundle(c.dir, c.bins); err != nil {
			return nil, err
		}
	}
	if cfg.VPC.Logger == nil {
		cfg.VPC.Logger = cfg.Logger
	}
	c.vpc, err = sim.New(ctx, cfg.VPC)
	if err != nil {
		return nil, fmt.Errorf("building the simulated vpc: %w", err)
	}
	return c, nil
}

// VPC is the simulated VPC, for its call counters, faults and echo address.
func (c *Cluster) VPC() *sim.VPC { return c.vpc }

// Dir is the directory holding the nodes' state.
func (c *Cluster) Dir() string { return c.dir }

// Binaries are the agent and plugin the nodes run.
func (c *Cluster) Binaries() Binaries { return c.bins }

// Nodes returns the nodes in the order they were added.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Node(nil), c.nodes...)
}

// NodeSpec describes a node to add.
type NodeSpec struct {
	// Name is the node's name: 1-32 characters of a-z, 0-9 and '-'.
	Name string
	// InstanceType must be known to the VPC's limits, e.g. t3.medium.
	InstanceType string
	// Subnet picks the subnet by id, CIDR or AZ; empty = the first.
	Subnet string
	// Env is the agent's settings as user data's agent.env holds them
	// (EKSNET_CLUSTER, EKSNET_MODE, EKSNET_MAX_PODS, warm targets...). The
	// node's own paths (checkpoint, socket, CNI dirs, plugin source) and an
	// empty metrics address are set on top, so nodes never share state or
	// touch the host's /etc/cni, /opt/cni or /var/lib/eksnet.
	Env map[string]string
}

// AddNode launches an instance in the simulated EC2 and prepares the node's
// state directory; the agent is not started (see Node.Start).
func (c *Cluster) AddNode(ctx context.Context, spec NodeSpec) (*Node, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, errors.New("adding a node: cluster is closed")
	}
	sn, err := c.vpc.AddNode(ctx, sim.NodeSpec{Name: spec.Name, InstanceType: spec.InstanceType, Subnet: spec.Subnet})
	if err != nil {
		return nil, fmt.Errorf("adding node %s: %w", spec.Name, err)
	}
	dir := filepath.Join(c.dir, spec.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the state directory of node %s: %w", spec.Name, err)
	}
	n := newNode(c, sn, dir, spec.Env)
	if err := n.writeEnvFile(); err != nil {
		return nil, err
	}
	if err := n.writeNodeadmMarker(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	return n, nil
}

// StartNode is AddNode, Start and WaitReady: a node whose agent serves pods,
// as most callers want it. On error the node stays in the cluster (Close
// removes it) so its agent log can be read.
func (c *Cluster) StartNode(ctx context.Context, spec NodeSpec) (*Node, error) {
	n, err := c.AddNode(ctx, spec)
	if err != nil {
		return nil, err
	}
	if err := n.Start(ctx); err != nil {
		return n, err
	}
	if err := n.WaitReady(ctx); err != nil {
		return n, err
	}
	return n, nil
}

// stageBundle puts the plugin and its companions in one folder, as the
// node bundle unpacks them, and returns the staged plugin's path.
func stageBundle(dir string, b Binaries) (string, error) {
	bundle := filepath.Join(dir, "bundle")
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return "", err
	}
	files := map[string]string{PluginBinary: b.Plugin}
	for _, name := range cniconf.CompanionPlugins {
		files[name] = filepath.Join(b.Companions, name)
	}
	for name, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			return "", fmt.Errorf("staging the node bundle: %w", err)
		}
		if err := os.WriteFile(filepath.Join(bundle, name), data, 0o755); err != nil {
			return "", fmt.Errorf("staging the node bundle: %w", err)
		}
	}
	return filepath.Join(bundle, PluginBinary), nil
}

// OnClose registers fn to run first when the cluster closes (last
// registered first): what runs on top of the nodes, such as their
// Kubernetes layer, stops before the agents and the VPC go.
func (c *Cluster) OnClose(fn func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onClose = append(c.onClose, fn)
}

// Close stops every agent (SIGTERM, then SIGKILL after a grace period),
// removes the simulated VPC with every node and pod namespace, and the
// state directory if New created it. It is idempotent.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	nodes := append([]*Node(nil), c.nodes...)
	first := c.onClose
	c.mu.Unlock()
	var errs []error
	for i := len(first) - 1; i >= 0; i-- {
		if err := first[i](); err != nil {
			errs = append(errs, err)
		}
	}
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Stop(context.Background()); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := c.vpc.Close(); err != nil {
		errs = append(errs, fmt.Errorf("removing the simulated vpc %s: %w", c.vpc.Name(), err))
	}
	if c.ownsDir {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", c.dir, err))
		}
	}
	return errors.Join(errs...)
}
