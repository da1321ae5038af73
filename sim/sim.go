// Package sim is the simulated VPC the node agent and the CNI plugin are
// tested against, built from real kernel objects on one machine (root needed):
//
//   - a router namespace (NAME.router) with one Linux bridge per subnet, the
//     VPC router's address (.1) on each, the fake IMDS on 169.254.169.254:80
//     and the fake EC2 query API on http://198.18.1.1;
//   - an internet namespace (NAME.inet) behind the router, the IGW hop, with
//     an echo service on 203.0.113.10:7 (TCP and UDP) that answers with the
//     source address:port it saw, which is how SNAT is proven; the router
//     never masquerades;
//   - one namespace per node (NAME.node.NODE) whose eth0 is a veth on its
//     subnet's bridge with the primary ENI's MAC and address, a default route
//     via the router, and one more veth ethN per attached ENI (created down
//     and unaddressed, as the OS sees a hot-plugged ENI; the agent sets it up);
//   - pod namespaces (NAME.pod.POD) from NewPodNamespace, empty with lo up.
//
// RebootNode reboots a node as EC2 does: its ENIs and addresses stay, its
// kernel state (namespace, processes, pod namespaces) starts afresh.
//
// EC2 calls change the kernel: AttachNetworkInterface creates ethN in the
// node namespace (MAC = the ENI's) plugged into the bridge, and the router
// learns a permanent neighbour entry for the ENI's primary address; assigning
// a secondary /32 or a /28 prefix adds a router route to it via that address;
// unassign, detach and delete take them away. So a wrong request breaks
// connectivity, not only an assertion.
//
// As in a VPC, ENIs share no L2: bridge ports are isolated, the router
// answers ARP for its subnets (proxy ARP, private-VLAN style) and delivers by
// its routes, never sends redirects, and never masquerades. A node that
// cached an address therefore cannot reach it once it is unassigned.
//
// The fakes run in the process that called New (a test, or the `eksnet sim
// serve` daemon behind `eksnet sim up`), but their sockets are created inside
// the router namespace, so nodes reach them over the simulated network, and
// IMDS tells nodes apart by the source address of the request.
//
// Use:
//
//	vpc, err := sim.New(ctx, sim.Config{Logger: log})
//	defer vpc.Close()
//	node, err := vpc.AddNode(ctx, sim.NodeSpec{Name: "node-0", InstanceType: "t3.medium"})
//	cmd := node.Command(ctx, "/path/to/eksnet-agent") // runs inside the node with AWS_* set
//	hc := node.HTTPClient()                           // or an SDK client in-process, dialing from the node
//	vpc.Faults().SetThrottleRatio(0.5)
//	stats := vpc.Calls()
//
// Every object of a run lives in a namespace named NAME.*, so Close (or
// Sweep(NAME) after a crash) removes all of it and never anything else.
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/eksnet/eksnet/sim/fakeec2"
	"github.com/eksnet/eksnet/sim/fakeimds"
	"github.com/eksnet/eksnet/sim/faults"
)

// Faults is the run-time settable fault injector (see package faults).
type Faults = faults.Faults

// FaultSettings is one complete set of faults.
type FaultSettings = faults.Settings

// CallStats counts the calls the fakes answered, per action and error code.
type CallStats = faults.CallStats

// VPC is one running simulated VPC.
type VPC struct {
	cfg    Config
	log    *slog.Logger
	cloud  *fakeec2.Cloud
	faults *faults.Faults
	calls  *faults.Recorder
	store  *fakeimds.Store

	routerPath string
	routerNS   netns.NsHandle
	router     *netlink.Handle

	pubMu sync.Mutex // serializes metadata publication, so the last one is the newest

	mu         sync.Mutex
	nsNames    []string // created namespaces, in creation order
	nodes      map[string]*Node
	byInstance map[string]*Node
	nodeSeq    int
	closers    []func() error
	closed     bool
	closeErr   error
}

// New builds a simulated VPC: router, internet, IMDS, EC2. On error nothing of
// it remains.
func New(ctx context.Context, cfg Config) (_ *VPC, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	v := &VPC{cfg: cfg, log: cfg.Logger.With("sim", cfg.Name), faults: faults.New(cfg.Seed),
		calls: faults.NewRecorder(0), store: fakeimds.NewStore(), routerNS: -1,
		nodes: map[string]*Node{}, byInstance: map[string]*Node{}}
	v.store.SetDelay(cfg.IMDSDelay)
	defer func() {
		if err != nil {
			_ = v.Close()
		}
	}()
	if existing, lerr := Namespaces(cfg.Name); lerr == nil && len(existing) > 0 {
		return nil, fmt.Errorf("name %q: in use, namespaces %v exist (run `eksnet sim down %s` if it is stale)", cfg.Name, existing, cfg.Name)
	}
	var subnets []fakeec2.SubnetSpec
	for _, s := range cfg.Subnets {
		subnets = append(subnets, fakeec2.SubnetSpec{AZ: s.AZ, CIDR: s.CIDR})
	}
	v.cloud, err = fakeec2.New(fakeec2.Config{Region: cfg.Region, VPCCIDR: cfg.VPCCIDR, Subnets: subnets,
		Limits: cfg.Limits, Fabric: fabric{v}, Faults: v.faults, Calls: v.calls, OnChange: v.publish, DescribeDelay: cfg.DescribeDelay, Logger: v.log})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := v.buildRouter(); err != nil {
		return nil, err
	}
	if err := v.buildInternet(); err != nil {
		return nil, err
	}
	if err := v.startServers(); err != nil {
		return nil, err
	}
	v.publish()
	v.log.Info("simulated vpc up", "vpc", v.cloud.VPCID(), "cidr", cfg.VPCCIDR, "ec2", v.EC2Endpoint(), "imds", v.IMDSEndpoint())
	return v, nil
}

// Name is the run's name, the prefix of all its namespaces.
func (v *VPC) Name() string { return v.cfg.Name }

// Region is the region the fakes answer for.
func (v *VPC) Region() string { return v.cfg.Region }

// EC2Endpoint is the EC2 base URL, reachable from node namespaces.
func (v *VPC) EC2Endpoint() string { return "http://" + ec2Addr.String() }

// IMDSEndpoint is the IMDS base URL, reached through a node's eth0 as on EC2.
func (v *VPC) IMDSEndpoint() string { return "http://" + imdsAddr.String() }

// InternetEcho is the echo service in the internet namespace: it answers each
// TCP connection and UDP datagram with the "addr:port\n" it came from.
func (v *VPC) InternetEcho() netip.AddrPort { return echoAddr }

// Faults returns the fault injector; settings take effect on the next call.
func (v *VPC) Faults() *Faults { return v.faults }

// Calls returns counters per action and error code, and the latest calls.
func (v *VPC) Calls() CallStats { return v.calls.Stats() }

// Cloud returns the fake EC2, for its State.
func (v *VPC) Cloud() *fakeec2.Cloud { return v.cloud }

// SetIMDSDelay changes how long EC2 changes take to show in IMDS.
func (v *VPC) SetIMDSDelay(d time.Duration) { v.store.SetDelay(d) }

// SetDescribeDelay changes how long EC2 changes take to show in EC2's
// Describe answers.
func (v *VPC) SetDescribeDelay(d time.Duration) { v.cloud.SetDescribeDelay(d) }

// RouterNetNSPath is the router namespace, for tests that probe from it.
func (v *VPC) RouterNetNSPath() string { return v.routerPath }

// InternetNetNSPath is the internet namespace.
func (v *VPC) InternetNetNSPath() string { return netnsDir + "/" + v.cfg.Name + ".inet" }

// Nodes returns the nodes sorted by name.
func (v *VPC) Nodes() []*Node {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]*Node, 0, len(v.nodes))
	for _, n := range v.nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *Node) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// Node returns the node called name.
func (v *VPC) Node(name string) (*Node, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n, ok := v.nodes[name]
	return n, ok
}

// NewPodNamespace creates an empty namespace (lo up) called NAME.pod.name and
// returns its path; Close removes it.
func (v *VPC) NewPodNamespace(name string) (string, error) {
	if !namePattern.MatchString(name) {
		return "", fmt.Errorf("pod namespace name %q: must be 1-32 characters of a-z, 0-9 and '-'", name)
	}
	return v.createNS(v.cfg.Name + ".pod." + name)
}

func (v *VPC) createNS(name string) (string, error) {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return "", errors.New("simulated vpc is closed")
	}
	v.mu.Unlock()
	p, err := createNS(name)
	if err != nil {
		return "", err
	}
	v.mu.Lock()
	v.nsNames = append(v.nsNames, name)
	v.mu.Unlock()
	return p, nil
}

// Close stops the fakes and deletes every namespace of the run, with every
// veth and bridge in them. It is idempotent and safe after a partial New.
// Stop processes started with Node.Command first: a namespace that still has
// a process in it lives on (unnamed) until that process exits.
func (v *VPC) Close() error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return v.closeErr
	}
	v.closed = true
	closers := slices.Clone(v.closers)
	names := slices.Clone(v.nsNames)
	v.mu.Unlock()
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if v.router != nil {
		v.router.Close()
	}
	if v.routerNS >= 0 {
		_ = v.routerNS.Close()
	}
	for i := len(names) - 1; i >= 0; i-- {
		errs = append(errs, deleteNS(names[i]))
	}
	if len(names) > 0 {
		// The name is ours (New refuses names in use): catch anything a
		// half-finished creation left. A VPC that created nothing must not
		// sweep, or a refused New would remove the running VPC of that name.
		errs = append(errs, Sweep(v.cfg.Name))
	}
	err := errors.Join(errs...)
	v.mu.Lock()
	v.closeErr = err
	v.mu.Unlock()
	if err == nil {
		v.log.Info("simulated vpc removed")
	}
	return err
}

// publish hands IMDS a snapshot of EC2's state, keyed by each instance's
// primary address (where its IMDS requests come from).
func (v *VPC) publish() {
	v.pubMu.Lock()
	defer v.pubMu.Unlock()
	v.store.Publish(metadataOf(v.cloud.State()))
}

// metadataOf is what IMDS shows each instance for one EC2 state.
func metadataOf(st fakeec2.State) map[netip.Addr]fakeimds.Instance {
	out := map[netip.Addr]fakeimds.Instance{}
	for _, inst := range st.Instances {
		if inst.State == fakeec2.InstanceTerminated {
			continue // EC2 keeps showing it; nothing asks its IMDS any more
		}
		p := inst.Primary()
		m := fakeimds.Instance{ID: inst.ID, Type: inst.Type, AZ: inst.AZ, Region: st.Region, MAC: p.MAC, LocalIPv4: p.PrimaryIP}
		for _, e := range inst.ENIs {
			ifc := fakeimds.Interface{MAC: e.MAC, DeviceNumber: e.DeviceIndex, NetworkCard: e.NetworkCardIndex, InterfaceID: e.ID, SubnetID: e.SubnetID,
				VPCID: st.VPCID, SecurityGroupIDs: e.SecurityGroups, SubnetCIDR: e.SubnetCIDR,
				VPCCIDRs: []netip.Prefix{st.VPCCIDR}, IPv4Prefixes: e.Prefixes}
			ifc.LocalIPv4s = append([]netip.Addr{e.PrimaryIP}, e.Secondary...)
			m.Interfaces = append(m.Interfaces, ifc)
		}
		out[p.PrimaryIP] = m
	}
	return out
}
