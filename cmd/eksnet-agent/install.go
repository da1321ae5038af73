package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/eksnet/eksnet/cni-agent/cniconf"
	"github.com/eksnet/eksnet/cni-agent/config"
	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/cni-agent/snat"
	"github.com/eksnet/eksnet/internal/cli"
	"github.com/spf13/cobra"
)

// newInstallCmd is `eksnet-agent install`: copy the plugin into the CNI
// binary directory, and with --wait also write the conflist once the agent
// serves addresses. The systemd unit runs it (without --wait) as
// ExecStartPre, so the plugin matching the agent is in place before the
// agent starts; `eksnet-agent run` writes the conflist itself once ready, so
// kubelet reports the node Ready only when a pod can really get an address.
func newInstallCmd(a *app) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install the eksnet-cni plugin (and, with --wait, its conflist once the agent is ready)",
		Long: `Copies the eksnet-cni plugin into --cni-bin-dir, atomically. Without --wait
that is all: "eksnet-agent run" writes ` + cniconf.ConflistName + ` into --cni-conf-dir once it
serves addresses (this is how the systemd unit uses it, as ExecStartPre).
With --wait DURATION it also waits until the running agent answers on its
socket and has a free address, then writes the conflist itself. Reads the
same settings as "eksnet-agent run".`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.resolve(cmd)
			if err != nil {
				return err
			}
			pluginSource := cfg.CNIPluginSource
			if pluginSource == "" {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("--cni-plugin-source not given and the agent's own path is unknown: %w", err)
				}
				pluginSource = filepath.Join(filepath.Dir(exe), cniconf.PluginType)
			}
			c := cniconf.Config{
				ConfDir: cfg.CNIConfDir, BinDir: cfg.CNIBinDir, PluginSource: pluginSource,
				NetworkName: cniconf.DefaultNetworkName, SocketPath: cfg.SocketPath,
				VethPrefix: cfg.VethPrefix, MTU: cfg.MTU,
			}
			if wait == 0 {
				if err := cniconf.InstallPlugin(c); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "installed %s; eksnet-agent run writes %s once it serves addresses\n",
					filepath.Join(c.BinDir, cniconf.PluginType), filepath.Join(c.ConfDir, cniconf.ConflistName))
				return nil
			}
			if err := waitAgentReady(cmd.Context(), &rpc.Client{Path: cfg.SocketPath, Timeout: 5 * time.Second}, wait); err != nil {
				return err
			}
			if err := cniconf.Install(c); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "installed %s and %s\n",
				filepath.Join(c.BinDir, cniconf.PluginType), filepath.Join(c.ConfDir, cniconf.ConflistName))
			return nil
		},
	}
	config.Flags(cmd.Flags())
	cmd.Flags().DurationVar(&wait, "wait", 0, "also write the conflist once the running agent is ready, waiting at most this long; 0 installs the plugin only")
	return cmd
}

// waitAgentReady polls the agent's status until it is ready or wait runs out.
func waitAgentReady(ctx context.Context, c *rpc.Client, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	last := errors.New("no answer yet")
	for {
		st, err := c.Status(ctx)
		switch {
		case err != nil:
			last = err
		case st.Ready:
			return nil
		default:
			last = fmt.Errorf("not ready: %s", st.Reason)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("--wait %v: eksnet-agent at %s did not become ready, so no conflist was written (the node stays NotReady): %w", wait, c.Path, last)
		case <-tick.C:
		}
	}
}

// newUninstallCmd is `eksnet-agent uninstall`: remove the conflist, the
// plugin and the node's SNAT table and fwmark rule. It reads only the two
// directory settings, so it works even when the rest of the configuration is
// what broke the node.
func newUninstallCmd(a *app) *cobra.Command {
	var confDir, binDir, netns string
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the eksnet-cni conflist and plugin, and the node's SNAT rules",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := cniconf.Config{ConfDir: confDir, BinDir: binDir}
			if err := cniconf.Uninstall(c); err != nil {
				return err
			}
			if err := snat.RemoveAt(cmd.Context(), netns); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed %s, %s and nftables table ip %s\n",
				filepath.Join(confDir, cniconf.ConflistName), filepath.Join(binDir, cniconf.PluginType), snat.TableName)
			return nil
		},
	}
	cmd.Flags().StringVar(&confDir, "cni-conf-dir", installSettingDefault(a, "EKSNET_CNI_CONF_DIR"), "CNI configuration directory [env EKSNET_CNI_CONF_DIR]")
	cmd.Flags().StringVar(&binDir, "cni-bin-dir", installSettingDefault(a, "EKSNET_CNI_BIN_DIR"), "CNI binary directory [env EKSNET_CNI_BIN_DIR]")
	cmd.Flags().StringVar(&netns, "netns", "", "network namespace path to clean (tests); empty = this one")
	_ = cmd.Flags().MarkHidden("netns")
	return cmd
}

// installSettingDefault is the environment's value of an EKSNET_* setting, else its
// built-in default.
func installSettingDefault(a *app, env string) string {
	if v := a.getenv(env); v != "" {
		return v
	}
	for _, s := range config.All() {
		if s.Env == env {
			return s.Default
		}
	}
	return ""
}
