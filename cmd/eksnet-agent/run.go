package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/cni-agent/agent"
	"github.com/eksnet/eksnet/cni-agent/cloud"
	"github.com/eksnet/eksnet/cni-agent/cniconf"
	"github.com/eksnet/eksnet/cni-agent/config"
	"github.com/eksnet/eksnet/cni-agent/metrics"
	"github.com/eksnet/eksnet/cni-agent/snat"
	"github.com/eksnet/eksnet/internal/cli"
)

func newRunCmd(a *app) *cobra.Command {
	var debug bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the agent (user data starts it before kubelet)",
		Long: `Run the agent. Every setting is a flag whose default comes from an EKSNET_*
environment variable, or from the KEY=VALUE file user data writes
(/etc/eksnet/agent.env, or --config-file). Flags win over the environment,
the environment over the file. All settings are validated before anything
on the node changes.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.resolve(cmd)
			if err != nil {
				return err
			}
			return runAgent(cmd.Context(), a, cfg, debug)
		},
	}
	config.Flags(cmd.Flags())
	cmd.Flags().BoolVar(&debug, "debug", false, "log every warm-pool step")
	return cmd
}

func runAgent(ctx context.Context, a *app, cfg config.Config, debug bool) error {
	log := newLogger(a, debug)
	pluginSource := cfg.CNIPluginSource
	if pluginSource == "" {
		self, err := os.Executable()
		if err == nil {
			pluginSource = filepath.Join(filepath.Dir(self), cniconf.PluginType)
		}
	}
	m := metrics.New()
	ag, err := agent.New(agent.Options{
		Config:  cfg,
		Logger:  log,
		Metrics: m,
		IMDS:    cloud.NewIMDS(cfg.IMDSEndpoint),
		NewEC2: func(ctx context.Context, region string) (cloud.EC2API, error) {
			return cloud.NewEC2Client(ctx, region, cfg.IMDSEndpoint, cfg.EC2Endpoint, m.EC2Retry)
		},
		ApplySNAT: func(ctx context.Context, s agent.SNATSpec) error {
			return snat.Apply(ctx, snat.Config{PrimaryIP: s.PrimaryIP, PrimaryLink: s.PrimaryLink,
				VPCCIDRs: s.VPCCIDRs, Exclude: s.Exclude, External: s.External})
		},
		InstallCNI: func(ctx context.Context) error {
			return cniconf.Install(cniconf.Config{
				ConfDir: cfg.CNIConfDir, BinDir: cfg.CNIBinDir, PluginSource: pluginSource,
				NetworkName: cniconf.DefaultNetworkName, SocketPath: cfg.SocketPath,
				VethPrefix: cfg.VethPrefix, MTU: cfg.MTU,
			})
		},
		WithdrawCNI: func() error {
			_, err := cniconf.Withdraw(cfg.CNIConfDir)
			return err
		},
		Version: cli.ReadBuildInfo("eksnet-agent", version).Version,
	})
	if err != nil {
		return err
	}
	log.Info("starting eksnet-agent", "version", cli.ReadBuildInfo("eksnet-agent", version).Version, "cluster", cfg.Cluster, "mode", cfg.Mode)
	return ag.Run(ctx)
}

// newLogger logs JSON when stderr is not a terminal (journald, files), text
// for a human at a terminal.
func newLogger(a *app, debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if f, ok := a.stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(a.stderr, opts))
		}
	}
	return slog.New(slog.NewJSONHandler(a.stderr, opts))
}
