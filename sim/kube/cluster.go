package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/eksnet/eksnet/sim/simcluster"
)

// ClusterConfig says what Kubernetes to run on a simulated cluster.
type ClusterConfig struct {
	// Sim is the simulated VPC with its agents (package simcluster).
	Sim *simcluster.Cluster
	// Bins are the upstream binaries (EnsureBinaries).
	Bins Binaries
	// PauseBin and EchoBin are the static programs packed into the local
	// pause and echo images (BuildImageBinaries).
	PauseBin, EchoBin string
	// ServiceCIDR is the cluster's service range.
	ServiceCIDR netip.Prefix
	Logger      *slog.Logger
}

// Cluster is a Kubernetes control plane and the node stacks of the
// simulated nodes that joined it.
type Cluster struct {
	cfg    ClusterConfig
	dir    string
	cp     *ControlPlane
	images []string

	mu    sync.Mutex
	nodes map[string]*NodeStack
}

// StartCluster starts the control plane beside the simulated VPC and
// packs the local images. Its files live in the simulation's folder.
func StartCluster(ctx context.Context, cfg ClusterConfig) (_ *Cluster, err error) {
	c := &Cluster{cfg: cfg, dir: filepath.Join(cfg.Sim.Dir(), "kubernetes"), nodes: map[string]*NodeStack{}}
	if err := os.MkdirAll(filepath.Join(c.dir, "images"), 0o755); err != nil {
		return nil, err
	}
	for _, img := range []image{
		{ref: PauseImage, files: map[string]string{"/pause": cfg.PauseBin}, entrypoint: []string{"/pause"}},
		{ref: EchoImage, files: map[string]string{"/echo": cfg.EchoBin}, entrypoint: []string{"/echo"}},
		{ref: KubeProxyImage, files: map[string]string{"/kube-proxy": cfg.Bins.KubeProxy}, entrypoint: []string{"/kube-proxy"}},
	} {
		path := filepath.Join(c.dir, "images", filepath.Base(img.files[img.entrypoint[0]])+".oci.tar")
		if err := writeOCIArchive(img, path); err != nil {
			return nil, err
		}
		c.images = append(c.images, path)
	}
	c.cp, err = StartControlPlane(ctx, ControlPlaneConfig{Bins: cfg.Bins, Dir: filepath.Join(c.dir, "control-plane"),
		RouterNetNS: cfg.Sim.VPC().RouterNetNSPath(), ServiceCIDR: cfg.ServiceCIDR, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ControlPlane is the cluster's control plane.
func (c *Cluster) ControlPlane() *ControlPlane { return c.cp }

// Client is an admin API client.
func (c *Cluster) Client() (*Client, error) { return c.cp.Client() }

// Join starts containerd and kubelet on the simulated node n with the
// kubelet settings of its user data. The agent is not touched: start it
// before or after, as the experiment needs.
func (c *Cluster) Join(ctx context.Context, n *simcluster.Node, settings NodeSettings) (*NodeStack, error) {
	env := n.Env()
	ns, err := c.cp.StartNode(ctx, NodeConfig{
		Name: n.Name(), Dir: filepath.Join(n.Dir(), "k8s"), NodeIP: n.Sim().PrimaryIP,
		Start: n.Sim().Start, CNIConfDir: env["EKSNET_CNI_CONF_DIR"], CNIBinDir: env["EKSNET_CNI_BIN_DIR"],
		Settings: settings, CgroupRoot: "/eksnet." + c.cfg.Sim.VPC().Name() + "." + n.Name(), Images: c.images,
	})
	if err != nil {
		return nil, fmt.Errorf("node %s joining the cluster: %w", n.Name(), err)
	}
	c.mu.Lock()
	c.nodes[n.Name()] = ns
	c.mu.Unlock()
	return ns, nil
}

// Node returns the node stack of a joined node.
func (c *Cluster) Node(name string) (*NodeStack, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns, ok := c.nodes[name]
	return ns, ok
}

// Close stops every node stack, then the control plane.
func (c *Cluster) Close() error {
	c.mu.Lock()
	nodes := c.nodes
	c.nodes = map[string]*NodeStack{}
	c.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes))
	for _, ns := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- ns.Stop()
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if c.cp != nil {
		all = append(all, c.cp.Close())
	}
	return errors.Join(all...)
}
