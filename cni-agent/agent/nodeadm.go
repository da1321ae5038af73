package agent

import (
	"errors"
	"os"

	"github.com/eksnet/eksnet/cni-agent/hostnet"
)

// The agent's side of the AL2023 interplay with nodeadm's udev net manager
// (docs/node-bootstrap.md): ENIs are attached only once the marker file
// (--attach-after) exists, so nodeadm records them as the CNI's, and each
// carries a systemd-networkd file saying Unmanaged=yes (--networkd-dir)
// from before its attach until it leaves the node.

// attachAllowed tells whether an ENI may be attached now; it logs the
// first wait and the marker's arrival once each.
func (a *Agent) attachAllowed() bool {
	a.mu.Lock()
	open := a.cfg.AttachAfter == "" || a.attachOpen
	a.mu.Unlock()
	if open {
		return true
	}
	_, err := os.Stat(a.cfg.AttachAfter)
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case err == nil:
		if a.attachWaiting {
			a.log.Info("attach marker present; attaching ENIs", "marker", a.cfg.AttachAfter)
		}
		// The marker stays until a reboot, which restarts the agent.
		a.attachWaiting, a.attachOpen = false, true
		return true
	case errors.Is(err, os.ErrNotExist):
		if !a.attachWaiting {
			a.log.Info("waiting for the attach marker before attaching an ENI (--attach-after/EKSNET_ATTACH_AFTER)", "marker", a.cfg.AttachAfter)
		}
	default:
		a.noteErrorLocked("checking the attach marker %s (--attach-after/EKSNET_ATTACH_AFTER): %v", a.cfg.AttachAfter, err)
	}
	a.attachWaiting = true
	return false
}

// markUnmanaged writes the ENI's systemd-networkd file when --networkd-dir is set.
func (a *Agent) markUnmanaged(eniID, mac string) error {
	if a.cfg.NetworkdDir == "" {
		return nil
	}
	return hostnet.WriteNetworkdUnmanaged(a.cfg.NetworkdDir, eniID, mac)
}

// unmarkUnmanaged removes it once the ENI left the node; a failure only
// leaves a file matching a MAC no interface has.
func (a *Agent) unmarkUnmanaged(eniID string) {
	if a.cfg.NetworkdDir == "" {
		return
	}
	if err := hostnet.RemoveNetworkdUnmanaged(a.cfg.NetworkdDir, eniID); err != nil {
		a.log.Warn("removing the systemd-networkd file of a departed ENI", "eni", eniID, "err", err)
	}
}
