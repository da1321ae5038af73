package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eksnet/eksnet/sim/fakeec2"
)

// NewPodNamespace creates an empty pod namespace (lo up) called
// NAME.pod.name, as VPC.NewPodNamespace does, and records it as the node's:
// a reboot of the node (VPC.RebootNode) removes it, as it removes every
// sandbox of a real node.
func (n *Node) NewPodNamespace(name string) (string, error) {
	p, err := n.vpc.NewPodNamespace(name)
	if err != nil {
		return "", err
	}
	n.vpc.mu.Lock()
	n.pods = append(n.pods, n.vpc.cfg.Name+".pod."+name)
	n.vpc.mu.Unlock()
	return p, nil
}

// RebootNode does to the node what a reboot does to an EC2 instance.
//
// EC2 keeps everything: the instance keeps running, every ENI stays
// attached at its device index with all its secondary addresses and
// prefixes, IMDS answers as before, and no EC2 call is made.
//
// The kernel keeps nothing: every process in the node's namespace or in
// one of its pod namespaces (Node.NewPodNamespace) is killed, those pod
// namespaces are deleted, and the node's namespace is replaced by a fresh
// one of the same name holding what a fresh boot has: lo, eth0 configured
// as EC2's DHCP configures it (primary address, default route via the
// router) and one ethN per attached secondary ENI with its MAC, down and
// unaddressed, in device order. No route, rule, nftables table, sysctl
// or veth the node had survives. Handles on the old namespace see the old,
// disconnected one: reopen NetNSPath.
//
// The simulation has no per-node file system: the node's disk (an agent's
// state directory) and its /run are the caller's to model (simcluster
// keeps the first and empties the second).
func (v *VPC) RebootNode(ctx context.Context, name string) error {
	n, ok := v.Node(name)
	if !ok {
		return fmt.Errorf("rebooting node %q: no such node", name)
	}
	inst, ok := v.cloud.Instance(n.InstanceID)
	if !ok || inst.State != fakeec2.InstanceRunning {
		return fmt.Errorf("rebooting node %s: instance %s is not running (%s)", name, n.InstanceID, inst.State)
	}
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return errors.New("rebooting node " + name + ": simulated vpc is closed")
	}
	pods := n.pods
	n.pods = nil
	v.mu.Unlock()

	// Shutdown: every process of the node ends.
	if err := killIn(ctx, append([]string{n.nsName}, pods...)); err != nil {
		return fmt.Errorf("rebooting node %s: %w", name, err)
	}
	for _, p := range pods {
		if err := deleteNS(p); err != nil {
			return fmt.Errorf("rebooting node %s: %w", name, err)
		}
	}
	// The router ends of the node's ENIs go first: were the old namespace
	// kept alive by a stray reference (a socket), its links would stay
	// plugged into the VPC.
	if err := v.unplugNode(n); err != nil {
		return fmt.Errorf("rebooting node %s: %w", name, err)
	}
	if err := deleteNS(n.nsName); err != nil {
		return fmt.Errorf("rebooting node %s: %w", name, err)
	}

	// Boot: a fresh kernel, the ENIs as the hypervisor presents them.
	if _, err := createNS(n.nsName); err != nil {
		return fmt.Errorf("rebooting node %s: %w", name, err)
	}
	p := inst.Primary()
	mac, err := net.ParseMAC(p.MAC)
	if err != nil {
		return fmt.Errorf("rebooting node %s: primary mac %q: %w", name, p.MAC, err)
	}
	if err := v.plugENI(n, fakeec2.ENIRef{InstanceID: inst.ID, ENIID: p.ID, DeviceIndex: 0, MAC: mac,
		PrimaryIP: p.PrimaryIP, SubnetID: p.SubnetID, SubnetCIDR: p.SubnetCIDR}, true); err != nil {
		return fmt.Errorf("rebooting node %s: %w", name, err)
	}
	if err := v.cloud.RebootInstance(ctx, inst.ID); err != nil {
		return fmt.Errorf("rebooting node %s: %w", name, err)
	}
	v.log.Info("node rebooted", "node", name, "instance", inst.ID, "enis", len(inst.ENIs), "podNamespacesRemoved", len(pods))
	return nil
}

// unplugNode deletes the router ports of all the node's ENIs (each one's
// node end goes with it).
func (v *VPC) unplugNode(n *Node) error {
	links, err := v.router.LinkList()
	if err != nil {
		return fmt.Errorf("listing router ports: %w", err)
	}
	prefix := "n" + strconv.Itoa(n.idx) + "d"
	var errs []error
	for _, l := range links {
		rest, ok := strings.CutPrefix(l.Attrs().Name, prefix)
		if _, aerr := strconv.Atoi(rest); !ok || aerr != nil {
			continue
		}
		if err := v.router.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("deleting router port %s: %w", l.Attrs().Name, err))
		}
	}
	return errors.Join(errs...)
}

// killIn SIGKILLs every process (but this one) whose network namespace is
// one of the named ones, and waits until they are gone.
func killIn(ctx context.Context, names []string) error {
	want := map[[2]uint64]bool{}
	for _, name := range names {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(netnsDir, name), &st); err == nil {
			want[[2]uint64{uint64(st.Dev), st.Ino}] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := pidsIn(want)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v in %v survived SIGKILL for 10s", pids, names)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("killing the processes in %v: %w", names, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pidsIn lists the processes whose network namespace (dev, inode) is in want.
func pidsIn(want map[[2]uint64]bool) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	self := os.Getpid()
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat("/proc/"+e.Name()+"/ns/net", &st); err != nil {
			continue // gone, or a kernel thread
		}
		if want[[2]uint64{uint64(st.Dev), st.Ino}] {
			out = append(out, pid)
		}
	}
	return out, nil
}
