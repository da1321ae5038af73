package simcluster

import (
	"context"
	"fmt"
	"maps"
	"os"
)

// Reboot reboots the node as EC2 and systemd do it:
//
//   - shutdown: systemd stops the agent (SIGTERM, then the unit's
//     ExecStopPost `eksnet-agent withdraw` with SERVICE_RESULT=success);
//   - the instance restarts (sim.VPC.RebootNode): EC2 keeps the ENIs and
//     their addresses, the kernel starts afresh, every pod sandbox of the
//     node and every process is gone;
//   - the node's /run (RunDir: the agent's socket, nodeadm's marker) is
//     emptied, its disk (Dir: checkpoint, crash history, agent.env, CNI conf
//     and bin dirs, log) is kept;
//   - boot: the enabled unit starts the agent again (install, then run, as
//     Start does), and nodeadm's run phase writes its marker once more.
//
// The pods' sandboxes are not recreated: that is the runtime's part, after
// kubelet starts (WaitReady, then NewSandbox and Add for each pod).
func (n *Node) Reboot(ctx context.Context) error {
	if err := n.Stop(ctx); err != nil {
		return fmt.Errorf("rebooting %s: shutdown: %w", n.Name(), err)
	}
	if err := n.c.vpc.RebootNode(ctx, n.Name()); err != nil {
		return fmt.Errorf("rebooting %s: %w", n.Name(), err)
	}
	if err := os.RemoveAll(n.RunDir()); err != nil {
		return fmt.Errorf("rebooting %s: emptying its /run: %w", n.Name(), err)
	}
	if err := n.Start(ctx); err != nil {
		return fmt.Errorf("rebooting %s: boot: %w", n.Name(), err)
	}
	return n.writeNodeadmMarker()
}

// Upgrade replaces the node's agent and plugin with bins in place, as an
// operator does on a running node: `systemctl restart eksnet-agent` after
// the new bundle is unpacked. The old agent stops (SIGTERM, ExecStopPost),
// the node's binaries become bins (their companions staged beside the
// plugin as the bundle unpacks them), then the unit starts again:
// `eksnet-agent install` of the new bundle, then `eksnet-agent run`. The
// node's pods keep running throughout: nothing calls the plugin for them.
// Nothing else may use the node while it upgrades.
func (n *Node) Upgrade(ctx context.Context, bins Binaries) error {
	if err := bins.Check(); err != nil {
		return fmt.Errorf("upgrading %s: %w", n.Name(), err)
	}
	if err := n.Stop(ctx); err != nil {
		return fmt.Errorf("upgrading %s: stopping the old agent: %w", n.Name(), err)
	}
	if bins.Companions != "" {
		staged, err := stageBundle(n.dir, bins)
		if err != nil {
			return fmt.Errorf("upgrading %s: %w", n.Name(), err)
		}
		bins.Plugin = staged
	}
	n.mu.Lock()
	env := maps.Clone(n.env)
	env["EKSNET_CNI_PLUGIN_SOURCE"] = bins.Plugin
	n.bins, n.env = bins, env
	err := n.writeEnvFileLocked()
	n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("upgrading %s: %w", n.Name(), err)
	}
	if err := n.Start(ctx); err != nil {
		return fmt.Errorf("upgrading %s: starting the new agent: %w", n.Name(), err)
	}
	return nil
}
