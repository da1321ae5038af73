package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/eksnet/eksnet/cni-agent/checkpoint"
	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/ipam"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// RecoveredNetwork is the network name of allocations rebuilt from the
// kernel after the checkpoint could not be read (truncated, corrupt, from a
// future version). The kernel keeps each pod's address (its /32 host route)
// and host veth, but not the runtime's key (network, container ID), so such
// an allocation is keyed by the host veth's name: it holds the address so no
// new pod can get a live pod's address, and is released once that veth is
// gone, which is what the pod's DEL does (its Release finds no allocation
// under the real key and succeeds).
const RecoveredNetwork = "eksnet-recovered"

// podRoute is a pod's host route as the kernel shows it: the /32 via the
// host side of the pod's veth.
type podRoute struct {
	Addr netip.Addr
	Link string
}

// recoveredAssignments decides which kernel routes become allocations: /32
// routes over links named with the plugin's veth prefix, one per address
// (the first link wins; a second route to the same address is a broken
// leftover the plugin's next ADD or DEL replaces).
func recoveredAssignments(routes []podRoute, vethPrefix string, now time.Time) []ipam.Assignment {
	seen := map[netip.Addr]bool{}
	var out []ipam.Assignment
	for _, r := range routes {
		if !r.Addr.Is4() || !strings.HasPrefix(r.Link, vethPrefix) || seen[r.Addr] {
			continue
		}
		seen[r.Addr] = true
		out = append(out, ipam.Assignment{
			Owner:   ipam.Owner{Key: recoveredKey(r.Link), PodName: r.Link, Since: now},
			Address: r.Addr,
		})
	}
	return out
}

func recoveredKey(link string) rpc.Key {
	return rpc.Key{Network: RecoveredNetwork, ContainerID: link, IfName: "eth0"}
}

// kernelPodRoutes lists the main table's /32 routes over veth links in the
// agent's network namespace: what the plugin installs for every pod.
func kernelPodRoutes() ([]podRoute, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	var out []podRoute
	for _, l := range links {
		if l.Type() != "veth" {
			continue
		}
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4,
			&netlink.Route{LinkIndex: l.Attrs().Index, Table: datapath.MainTable}, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, fmt.Errorf("listing routes of %s: %w", l.Attrs().Name, err)
		}
		for _, r := range routes {
			if r.Dst == nil {
				continue
			}
			if ones, bits := r.Dst.Mask.Size(); ones != 32 || bits != 32 {
				continue
			}
			if a, ok := netip.AddrFromSlice(r.Dst.IP.To4()); ok {
				out = append(out, podRoute{Addr: a, Link: l.Attrs().Name})
			}
		}
	}
	return out, nil
}

// recoverFromKernel is restore's answer to a checkpoint it cannot read:
// report it (log, the status command's last errors), keep the bad file
// beside the path for inspection, and rebuild the allocations from the pod
// routes in the kernel over the pool that IMDS and EC2 gave loadENIs. The
// agent then serves as usual; the next save writes a good checkpoint.
func (a *Agent) recoverFromKernel(cause error) error {
	aside := a.cfg.CheckpointPath + ".corrupt"
	if err := os.Rename(a.cfg.CheckpointPath, aside); err != nil && !errors.Is(err, os.ErrNotExist) {
		aside = ""
	}
	// The journal goes with it: its records follow the unreadable snapshot.
	journal := checkpoint.JournalPath(a.cfg.CheckpointPath)
	if err := os.Rename(journal, journal+".corrupt"); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.log.Warn("could not move the checkpoint journal aside", "journal", journal, "err", err)
	}
	a.log.Error("checkpoint unreadable; rebuilding allocations from the kernel's pod routes", "path", a.cfg.CheckpointPath, "movedTo", aside, "err", cause)
	a.noteError("checkpoint unreadable (%v); allocations rebuilt from the kernel's pod routes, the bad file kept as %s", cause, aside)
	routes, err := kernelPodRoutes()
	if err != nil {
		return fmt.Errorf("rebuilding allocations after an unreadable checkpoint: %w", err)
	}
	found := recoveredAssignments(routes, a.cfg.VethPrefix, a.now())
	a.mu.Lock()
	rejected := a.store.Restore(found, nil)
	a.mu.Unlock()
	for _, r := range rejected {
		a.log.Warn("pod route to an address outside this node's pool; not restored", "address", r.Address, "link", r.PodName)
	}
	a.log.Info("allocations rebuilt from the kernel", "restored", len(found)-len(rejected), "ignored", len(rejected))
	return nil
}

// releaseGoneRecovered releases recovered allocations whose host veth no
// longer exists: the pod was deleted (its DEL removed the veth) or never
// came back. It runs with every reconcile.
func (a *Agent) releaseGoneRecovered() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now, released := a.now(), 0
	for _, as := range a.store.List() {
		if as.Key.Network != RecoveredNetwork {
			continue
		}
		if _, err := net.InterfaceByName(as.Key.ContainerID); err == nil || !isNoSuchInterface(err) {
			continue
		}
		a.store.Release(as.Key, now)
		released++
		a.log.Info("recovered allocation released: its pod's veth is gone", "address", as.Address, "link", as.Key.ContainerID)
	}
	if released > 0 {
		if err := a.saveLocked(); err != nil {
			a.noteErrorLocked("saving the checkpoint after releasing recovered allocations: %v", err)
		}
	}
}

// isNoSuchInterface tells "no such link" from a failure to ask.
func isNoSuchInterface(err error) bool {
	var le netlink.LinkNotFoundError
	return errors.As(err, &le) || strings.Contains(err.Error(), "no such network interface")
}
