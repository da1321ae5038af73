package agent

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/eksnet/eksnet/cni-agent/cloud"
	"github.com/eksnet/eksnet/cni-agent/hostnet"
	"github.com/eksnet/eksnet/cni-agent/ipam"
)

// attached is an ENI as EC2 or IMDS reports it, in one shape.
type attached struct {
	info     eniInfo
	ips      []netip.Addr
	prefixes []netip.Prefix
}

// loadENIs reads the attached ENIs from EC2 (authoritative, and it carries
// the attachment IDs needed to detach), falling back to IMDS when EC2 does
// not answer, sets up the secondary ones on the host and loads the pool.
func (a *Agent) loadENIs(ctx context.Context) error {
	list, err := a.describeAttached(ctx)
	if err != nil {
		a.noteError("describing ENIs at start, using IMDS instead: %v", err)
		a.log.Warn("EC2 unavailable at start, using IMDS for the ENIs", "err", err)
		ifaces, ierr := a.meta.Interfaces(ctx)
		if ierr != nil {
			return fmt.Errorf("listing the node's ENIs: EC2: %w; IMDS: %w", err, ierr)
		}
		list = fromIMDS(ifaces)
		a.mu.Lock()
		a.syncFromEC2 = true
		a.mu.Unlock()
	}
	for _, e := range list {
		if err := a.adopt(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func (a *Agent) describeAttached(ctx context.Context) ([]attached, error) {
	enis, err := a.ec2.InstanceENIs(ctx, a.instance.ID)
	if err != nil {
		return nil, err
	}
	out := make([]attached, 0, len(enis))
	for _, e := range enis {
		if e.NetworkCard != 0 {
			// Another card's ENI (EFA, a user's): not the agent's, and
			// its device index is another card's.
			continue
		}
		out = append(out, attached{
			info: eniInfo{ID: e.ID, MAC: e.MAC, DeviceNumber: e.DeviceIndex, AttachmentID: e.AttachmentID, PrimaryIP: e.PrimaryIP,
				// The primary ENI is the instance's own business.
				NeedsDeleteOnTermination: e.DeviceIndex != 0 && !e.DeleteOnTermination},
			ips: e.IPs, prefixes: e.Prefixes,
		})
	}
	return out, nil
}

func fromIMDS(ifaces []cloud.Interface) []attached {
	out := make([]attached, 0, len(ifaces))
	for _, e := range ifaces {
		if e.NetworkCard != 0 {
			continue
		}
		out = append(out, attached{
			info: eniInfo{ID: e.ID, MAC: e.MAC, DeviceNumber: e.DeviceNumber, PrimaryIP: e.PrimaryIP, InIMDS: true},
			ips:  e.IPs, prefixes: e.Prefixes,
		})
	}
	return out
}

// adopt sets up an attached ENI on the host, once, and puts it in the pool
// with the addresses of the agent's mode; addresses new to the pool wait
// for IMDS (settle).
func (a *Agent) adopt(ctx context.Context, e attached) error {
	a.mu.Lock()
	old, known := a.enis[e.info.ID]
	setUp := known && old.DeviceNumber == e.info.DeviceNumber
	a.mu.Unlock()
	if e.info.DeviceNumber != 0 && !setUp {
		// Attached before (a restart, a reboot, an older agent): the file
		// keeps networkd off it at the next boot too.
		if err := a.markUnmanaged(e.info.ID, e.info.MAC); err != nil {
			return err
		}
		setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		name, err := hostnet.SetupENI(setupCtx, a.hostENI(e.info), a.cfg.MTU)
		cancel()
		if err != nil {
			return fmt.Errorf("setting up ENI %s on the host: %w", e.info.ID, err)
		}
		a.log.Info("ENI ready", "eni", e.info.ID, "device", e.info.DeviceNumber, "link", name, "table", hostnet.TableFor(e.info.DeviceNumber))
	}
	pe := ipam.ENI{ID: e.info.ID, DeviceNumber: e.info.DeviceNumber, Primary: e.info.DeviceNumber == 0}
	if a.targets.Prefix {
		pe.Prefixes = e.prefixes
	} else {
		pe.IPs = e.ips
	}
	// Rules first: the units are allocatable once they are in the pool.
	if err := a.addUnitRules(e.info.DeviceNumber, a.unitsOf(e)); err != nil {
		return fmt.Errorf("ENI %s: %w", e.info.ID, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	info := e.info
	if old, ok := a.enis[info.ID]; ok {
		if info.AttachmentID == "" {
			// IMDS knows no attachment IDs; keep what EC2 said.
			info.AttachmentID = old.AttachmentID
			info.NeedsDeleteOnTermination = old.NeedsDeleteOnTermination
		}
		info.InIMDS = info.InIMDS || old.InIMDS && old.DeviceNumber == info.DeviceNumber
	}
	if info.DeviceNumber == 0 {
		info.InIMDS = true // the agent learnt the primary from IMDS
	}
	a.enis[info.ID] = &info
	for _, d := range a.store.PutENI(pe) {
		a.noteErrorLocked("address %s of %s left ENI %s; allocation dropped", d.Address, d.Key, d.ENIID)
		a.log.Error("an assigned address left its ENI", "address", d.Address, "key", d.Key.String(), "eni", d.ENIID)
	}
	return nil
}

func (a *Agent) hostENI(info eniInfo) hostnet.ENI {
	return hostnet.ENI{MAC: info.MAC, DeviceNumber: info.DeviceNumber, PrimaryIP: info.PrimaryIP, SubnetCIDR: a.subnetCIDR}
}

// freeDevice returns the lowest device index not in use.
func (a *Agent) freeDevice() (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	used := a.reservedDevicesLocked()
	for _, e := range a.enis {
		used[e.DeviceNumber] = true
	}
	for d := 1; d < a.limits.MaxENIs; d++ {
		if !used[d] {
			return d, true
		}
	}
	return 0, false
}
