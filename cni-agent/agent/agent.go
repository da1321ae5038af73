// Package agent is the node daemon: it learns the node from IMDS, rebuilds
// the address pool from EC2 and the checkpoint, prepares the host network,
// applies SNAT, serves the plugin on the unix socket (rpc.Handler), keeps the
// warm pool at its targets in the background, reconciles with IMDS/EC2,
// collects leaked ENIs and installs the CNI configuration once pods can get
// addresses, so the node stays NotReady until then.
//
// One goroutine (the pool loop) makes every EC2 change, so growing,
// shrinking, reconciling and collecting never race each other; allocation
// requests only touch memory and the checkpoint, under one mutex.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/eksnet/eksnet/bootstrap/maxpods"
	"github.com/eksnet/eksnet/cni-agent/checkpoint"
	"github.com/eksnet/eksnet/cni-agent/cloud"
	"github.com/eksnet/eksnet/cni-agent/config"
	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/hostnet"
	"github.com/eksnet/eksnet/cni-agent/ipam"
	"github.com/eksnet/eksnet/cni-agent/metrics"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// SNATSpec is what SNAT needs from the agent.
type SNATSpec struct {
	PrimaryIP   netip.Addr
	PrimaryLink string
	VPCCIDRs    []netip.Prefix
	Exclude     []netip.Prefix
	External    bool
}

// Options are the agent's dependencies. The two effects owned by other
// packages (SNAT rules, the CNI configuration) are func seams so the daemon
// can be wired to the real ones in main and tested on its own.
type Options struct {
	Config  config.Config
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	IMDS    cloud.IMDSClient
	// NewEC2 builds the EC2 client once the region is known from IMDS.
	NewEC2 func(ctx context.Context, region string) (cloud.EC2API, error)
	// ApplySNAT installs the node's SNAT rules; called once at start.
	ApplySNAT func(ctx context.Context, s SNATSpec) error
	// InstallCNI installs the plugin and its conflist; called once, when the
	// agent serves and has a free address.
	InstallCNI func(ctx context.Context) error
	// WithdrawCNI removes the conflist when the agent is stopped (ctx ends,
	// on SIGTERM), so the runtime reports the network not ready and the
	// node turns NotReady while nothing serves its pods; the next Run
	// installs it again once it serves. nil leaves the conflist in place.
	WithdrawCNI func() error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Version is the agent's build version, reported by Status.
	Version string
}

// eniInfo is what the agent knows about an attached ENI beyond the pool.
type eniInfo struct {
	ID           string
	MAC          string
	DeviceNumber int
	AttachmentID string
	PrimaryIP    netip.Addr
	// NeedsDeleteOnTermination is set while the attachment still lacks
	// delete-on-termination (the call after attach failed); the pool loop
	// retries it, since such an ENI would outlive its instance.
	NeedsDeleteOnTermination bool
	// InIMDS: IMDS lists the ENI at DeviceNumber, so its addresses can be
	// confirmed (settle).
	InIMDS bool
}

// Agent is the running daemon. Create with New, then Run.
type Agent struct {
	cfg  config.Config
	log  *slog.Logger
	m    *metrics.Metrics
	now  func() time.Time
	opts Options

	meta cloud.Metadata
	ec2  *cloud.EC2

	// Set once by start, read-only afterwards.
	instance cloud.Instance
	primary  cloud.Interface
	maxPods  int
	// networkCards is the instance type's count; the agent uses card 0.
	networkCards int
	// hostNetworkPods take max-pods slots and no address (kube-proxy
	// and the user's host-network DaemonSets).
	hostNetworkPods int
	limits          ipam.Limits
	targets         ipam.Targets
	vpcCIDRs        []netip.Prefix
	subnetCIDR      netip.Prefix

	nudge chan struct{}
	// reaper deletes released pods' host veths off the DEL path.
	reaper *vethReaper

	mu    sync.Mutex
	store *ipam.Store
	// ckpt records every change to store on disk before it is answered.
	ckpt *checkpoint.Writer
	enis map[string]*eniInfo
	// recentUnits and recentENIs are the agent's own changes of the last
	// settleWindow, which lagging views do not show yet (corrected).
	recentUnits map[netip.Prefix]change
	recentENIs  map[string]change
	// limbo holds ENIs whose attach outcome is unknown (resolveLimbo).
	limbo      map[string]*limboENI
	serving    bool
	lastErrors []string
	// pausedUntil stops growth after the subnet ran out of addresses.
	pausedUntil time.Time
	// growFailure is why the pool's last attempt to grow failed, "" after
	// a step succeeds.
	growFailure string
	// syncFromEC2 makes the next reconcile ask EC2 even when IMDS agrees:
	// the ENIs were loaded from IMDS, which knows no attachment IDs.
	syncFromEC2 bool
	// attachWaiting: the pool wants an ENI and --attach-after's marker is
	// missing; attachOpen: the marker was seen, so no more checks.
	attachWaiting, attachOpen bool
}

// New checks the options and returns an agent ready to Run.
func New(o Options) (*Agent, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IMDS == nil || o.NewEC2 == nil {
		return nil, errors.New("agent: IMDS and NewEC2 are required")
	}
	return &Agent{
		cfg: o.Config, log: o.Logger, m: o.Metrics, now: o.Now, opts: o,
		meta:        cloud.Metadata{Client: o.IMDS},
		nudge:       make(chan struct{}, 1),
		enis:        map[string]*eniInfo{},
		recentUnits: map[netip.Prefix]change{}, recentENIs: map[string]change{}, limbo: map[string]*limboENI{},
		reaper: newVethReaper(o.Logger, datapath.DeleteHostVeth),
	}, nil
}

// Run starts the agent and blocks until ctx ends or a fatal error occurs.
func (a *Agent) Run(ctx context.Context) error {
	defer a.withdrawOnStop(ctx)
	if err := a.start(ctx); err != nil {
		return err
	}
	ln, err := rpc.Listen(a.cfg.SocketPath)
	if err != nil {
		return err
	}
	srv := &rpc.Server{Handler: a, Logger: a.log}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	a.reaper.start()
	wg.Add(1)
	go func() { defer wg.Done(); a.reaper.run(ctx, reapDrain) }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ctx, ln); err != nil {
			errc <- err
		}
	}()
	a.mu.Lock()
	a.serving = true
	a.mu.Unlock()
	a.log.Info("serving the plugin", "socket", a.cfg.SocketPath)
	if a.cfg.MetricsAddr != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.m.Serve(ctx, a.cfg.MetricsAddr, a.log); err != nil {
				errc <- err
			}
		}()
	}
	wg.Add(3)
	go func() { defer wg.Done(); a.poolLoop(ctx) }()
	go func() { defer wg.Done(); a.settleLoop(ctx) }()
	go func() { defer wg.Done(); a.installWhenReady(ctx) }()
	a.kick()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		cancel()
	}
	wg.Wait()
	a.mu.Lock()
	_ = a.ckpt.Close()
	a.mu.Unlock()
	a.log.Info("agent stopped")
	return runErr
}

// withdrawOnStop withdraws the CNI configuration when the agent was told
// to stop (ctx ended), not when it failed: a failure is a crash, which the
// unit's stop hook (crashloop) judges.
func (a *Agent) withdrawOnStop(ctx context.Context) {
	if ctx.Err() == nil || a.opts.WithdrawCNI == nil {
		return
	}
	if err := a.opts.WithdrawCNI(); err != nil {
		a.log.Error("withdrawing the CNI configuration on stop", "err", err)
		return
	}
	a.log.Info("CNI configuration withdrawn: the node reports its network not ready until the agent serves again")
}

// start learns the node, rebuilds the pool and prepares the host; nothing
// is served before it succeeds.
func (a *Agent) start(ctx context.Context) error {
	inst, err := a.readInstance(ctx)
	if err != nil {
		return err
	}
	a.instance = inst
	primary, ok := inst.Primary()
	if !ok {
		return fmt.Errorf("IMDS lists no interface with the primary MAC %s", inst.PrimaryMAC)
	}
	a.primary = primary
	a.vpcCIDRs = inst.VPCCIDRs
	a.subnetCIDR = primary.SubnetCIDR
	if err := a.computeLimits(); err != nil {
		return err
	}
	a.store = ipam.NewStore(a.capacity(), a.cfg.Cooldown)
	api, err := a.opts.NewEC2(ctx, inst.Region)
	if err != nil {
		return fmt.Errorf("creating the EC2 client: %w", err)
	}
	a.ec2 = &cloud.EC2{API: api, Observe: a.m.ObserveEC2}

	if err := hostnet.LoosenRPFilter(ctx, inst.PrimaryMAC); err != nil {
		return err
	}
	link, err := hostnet.WaitLink(ctx, inst.PrimaryMAC)
	if err != nil {
		return err
	}
	if a.opts.ApplySNAT != nil {
		spec := SNATSpec{PrimaryIP: inst.PrimaryIP, PrimaryLink: link.Attrs().Name, VPCCIDRs: inst.VPCCIDRs,
			Exclude: a.cfg.SNATExcludeCIDRs, External: a.cfg.ExternalSNAT}
		if err := a.opts.ApplySNAT(ctx, spec); err != nil {
			return fmt.Errorf("applying SNAT rules: %w", err)
		}
	}
	if err := a.loadENIs(ctx); err != nil {
		return err
	}
	// Rules of units that are no longer in the pool (a restart after a
	// change), and per-pod rules of earlier plugin versions, go before the
	// first ADD.
	a.syncUnitRules()
	return a.restore()
}

// readInstance reads IMDS, retrying through an outage until ctx ends: a
// node whose metadata service hiccups at boot must come up once it is back.
func (a *Agent) readInstance(ctx context.Context) (cloud.Instance, error) {
	delay := 200 * time.Millisecond
	for {
		inst, err := a.meta.Instance(ctx)
		if err == nil {
			a.m.BackoffCleared()
			a.log.Info("instance", "id", inst.ID, "type", inst.Type, "region", inst.Region, "primaryIP", inst.PrimaryIP, "enis", len(inst.ENIs))
			return inst, nil
		}
		a.noteError("reading IMDS: %v", err)
		a.m.Backoff("imds", delay)
		a.log.Warn("IMDS unavailable, retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return cloud.Instance{}, fmt.Errorf("reading instance metadata: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// hostNetwork is what runs on this node's host network: kube-proxy (the
// agent is a unit, not a pod) and the user's DaemonSets.
func (a *Agent) hostNetwork() maxpods.HostNetwork {
	return maxpods.HostNetwork{Agent: true, DaemonSets: a.cfg.HostNetworkDaemonSets}
}

// capacity is the pod addresses the agent may hand out: max pods less the
// host-network pods, which need none.
func (a *Agent) capacity() int { return a.maxPods - a.hostNetworkPods }

func (a *Agent) computeLimits() error {
	table := maxpods.Default()
	if len(a.cfg.InstanceLimits) > 0 {
		// config.Parse has checked them; With copies the table, so only
		// a node that needs them pays for it.
		var err error
		if table, err = table.With(a.cfg.InstanceLimits...); err != nil {
			return fmt.Errorf("--instance-limits (EKSNET_INSTANCE_LIMITS): %w", err)
		}
	}
	res, err := table.Calculate(a.instance.Type, maxpods.Options{
		PrefixDelegation: a.cfg.Mode == config.ModePrefix,
		MaxENI:           a.cfg.MaxENI,
		HostNetwork:      a.hostNetwork(),
	})
	if err != nil {
		var unknown *maxpods.UnknownInstanceTypeError
		if errors.As(err, &unknown) {
			return fmt.Errorf("instance type %s (from IMDS): %w; give its limits with --instance-limits (EKSNET_INSTANCE_LIMITS) %s", a.instance.Type, err, maxpods.LimitsSyntax)
		}
		return fmt.Errorf("instance type %s in %s mode (--mode/EKSNET_MODE, --max-eni/EKSNET_MAX_ENI): %w", a.instance.Type, a.cfg.Mode, err)
	}
	it, _ := table.Lookup(a.instance.Type) // Calculate found it
	a.networkCards = it.NetworkCards
	a.maxPods = res.MaxPods
	if a.cfg.MaxPods > 0 {
		if a.cfg.MaxPods > res.Uncapped && it.NetworkCards > 1 {
			// Addresses beyond card 0's ENIs would need ENIs on the
			// other cards, which the agent does not attach.
			return fmt.Errorf("--max-pods (EKSNET_MAX_PODS) %d on %s needs ENIs on its other network cards: the type has %d network cards and eksnet-agent uses card 0 only (%d ENIs x %d addresses: %d pods in %s mode): accepted: at most %d, or 0 (computed)",
				a.cfg.MaxPods, a.instance.Type, it.NetworkCards, res.ENIs, res.IPsPerENI, res.Uncapped, a.cfg.Mode, res.Uncapped)
		}
		a.maxPods = a.cfg.MaxPods
	}
	a.hostNetworkPods = a.hostNetwork().Pods()
	if a.maxPods <= a.hostNetworkPods {
		return fmt.Errorf("--max-pods (EKSNET_MAX_PODS) %d leaves no pod addresses after %d host-network pods (kube-proxy and --host-network-daemonsets/EKSNET_HOST_NETWORK_DAEMONSETS %d): accepted: 0 (computed) or more than %d",
			a.maxPods, a.hostNetworkPods, a.cfg.HostNetworkDaemonSets, a.hostNetworkPods)
	}
	a.limits = ipam.Limits{MaxENIs: res.ENIs, UnitsPerENI: res.IPsPerENI - 1}
	a.targets = ipam.Targets{
		Prefix:     a.cfg.Mode == config.ModePrefix,
		WarmIP:     a.cfg.WarmIPTarget,
		MinimumIP:  a.cfg.MinimumIPTarget,
		WarmPrefix: a.cfg.WarmPrefixTarget,
		WarmENI:    a.cfg.WarmENITarget,
	}
	a.m.Pool(ipam.Snapshot{Capacity: a.capacity()})
	a.log.Info("limits", "maxPods", a.maxPods, "hostNetworkPods", a.hostNetworkPods, "capacity", a.capacity(), "maxENIs", res.ENIs, "unitsPerENI", res.IPsPerENI-1, "mode", a.cfg.Mode)
	return nil
}

// restore binds the checkpoint's allocations to the pool and drops the ones
// that no longer hold: the address left the ENIs, or the pod's network
// namespace is gone (the node rebooted, or the pod was deleted while the
// agent was down; its address is kept for the pod's next sandbox).
func (a *Agent) restore() error {
	now := a.now()
	f, err := checkpoint.Load(a.cfg.CheckpointPath)
	// A snapshot from elsewhere (another instance, an unreadable one) is not
	// continued: the next snapshot starts a new generation.
	var gen uint64
	switch {
	case checkpoint.IsNotExist(err):
		a.log.Info("no checkpoint: first start on this node", "path", a.cfg.CheckpointPath)
	case err != nil:
		if rerr := a.recoverFromKernel(err); rerr != nil {
			return fmt.Errorf("restoring allocations: %w (and %w)", err, rerr)
		}
	case f.InstanceID != a.instance.ID:
		a.log.Warn("checkpoint belongs to another instance, ignoring it", "checkpoint", f.InstanceID, "instance", a.instance.ID)
	default:
		if f.Mode != string(a.cfg.Mode) {
			// Addresses of the other mode are not in the pool, so their
			// allocations are rejected below: switching modes needs a
			// drained node.
			a.log.Warn("checkpoint written in another mode; its allocations will not be restored", "checkpoint", f.Mode, "mode", a.cfg.Mode)
		}
		gen = f.Generation
		if f.Journal.TornTail {
			// Appends are synced before the answer leaves, so the torn
			// record's request was never answered: its pod was not wired.
			a.log.Warn("checkpoint journal ends in a torn record (a crash while writing it); dropped", "journal", checkpoint.JournalPath(a.cfg.CheckpointPath))
		}
		a.mu.Lock()
		rejected := a.store.Restore(f.Assignments, f.Cooldowns)
		for _, r := range rejected {
			a.noteErrorLocked("checkpointed allocation %s -> %s no longer on this node's ENIs; dropped", r.Key, r.Address)
		}
		gone := 0
		for _, as := range a.store.List() {
			if as.Netns == "" {
				continue
			}
			if _, err := os.Stat(as.Netns); errors.Is(err, os.ErrNotExist) {
				// The sandbox died (a reboot) or was deleted while the
				// agent was down: the address cools down, but the pod's
				// next sandbox gets it back, so a rebooted node's pods
				// keep their addresses and need no new ones from EC2.
				a.store.ReleaseKeptForPod(as.Key, now)
				gone++
				a.log.Warn("pod network namespace gone while the agent was down; address released, kept for the pod's next sandbox", "key", as.Key.String(), "address", as.Address, "netns", as.Netns, "pod", as.PodNamespace+"/"+as.PodName)
			}
		}
		restored := len(a.store.List())
		a.mu.Unlock()
		a.log.Info("restored allocations", "restored", restored, "rejected", len(rejected), "released", gone,
			"journalReplayed", f.Journal.Replayed, "journalStale", f.Journal.Stale)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ckpt = checkpoint.NewWriter(a.cfg.CheckpointPath, gen)
	return a.saveLocked()
}

// saveLocked writes a snapshot of every allocation (and empties the
// journal): after changes the journal does not describe, such as a
// restore or a reconcile.
func (a *Agent) saveLocked() error {
	now := a.now()
	err := a.ckpt.Save(checkpoint.File{
		InstanceID:  a.instance.ID,
		Mode:        string(a.cfg.Mode),
		Assignments: a.store.List(),
		Cooldowns:   a.store.Cooldowns(now),
	})
	a.m.Pool(a.store.Snapshot(now))
	return err
}

// recordLocked checkpoints one allocation or release by appending it to the
// journal: one small write whatever the pod count. When the journal is
// due for compaction (or an append failed) it writes a snapshot instead.
func (a *Agent) recordLocked(change func(*checkpoint.Writer) error) error {
	if a.ckpt.Due(a.store.Assigned()) {
		return a.saveLocked()
	}
	err := change(a.ckpt)
	a.m.Pool(a.store.Snapshot(a.now()))
	return err
}

// kick wakes the pool loop without blocking.
func (a *Agent) kick() {
	select {
	case a.nudge <- struct{}{}:
	default:
	}
}

const maxLastErrors = 10

func (a *Agent) noteError(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.noteErrorLocked(format, args...)
}

func (a *Agent) noteErrorLocked(format string, args ...any) {
	msg := a.now().UTC().Format(time.RFC3339) + " " + fmt.Sprintf(format, args...)
	a.lastErrors = append(a.lastErrors, msg)
	if len(a.lastErrors) > maxLastErrors {
		a.lastErrors = a.lastErrors[len(a.lastErrors)-maxLastErrors:]
	}
}

// installWhenReady installs the CNI configuration once a pod can get an
// address; until then the runtime reports the network not ready and the
// node stays NotReady, so no pod is scheduled onto a node that cannot serve it.
func (a *Agent) installWhenReady(ctx context.Context) {
	if a.opts.InstallCNI == nil {
		return
	}
	delay := 100 * time.Millisecond
	for {
		st, _ := a.Status(ctx)
		if st.Ready {
			err := a.opts.InstallCNI(ctx)
			if err == nil {
				a.log.Info("CNI configuration installed; the node can run pods")
				return
			}
			a.noteError("installing the CNI configuration: %v", err)
			a.log.Error("installing the CNI configuration", "err", err)
			delay = min(delay*2, 10*time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}
