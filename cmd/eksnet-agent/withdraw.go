package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/cni-agent/cniconf"
	"github.com/eksnet/eksnet/cni-agent/crashloop"
	"github.com/eksnet/eksnet/internal/cli"
)

// newWithdrawCmd is `eksnet-agent withdraw`, the unit's ExecStopPost: after
// every end of the agent it removes the conflist when nothing will serve
// the node's pods (a clean stop, or a crash loop), so the node turns
// NotReady. Like uninstall it reads only the settings it needs, so it works
// when the rest of the configuration is what crashes the agent.
func newWithdrawCmd(a *app) *cobra.Command {
	var confDir, checkpointPath string
	cmd := &cobra.Command{
		Use:   "withdraw",
		Short: "Remove the conflist when the agent stopped or crash-loops (the unit's ExecStopPost)",
		Long: `Run by systemd after every exit of the agent (ExecStopPost), with the exit in
SERVICE_RESULT, EXIT_CODE and EXIT_STATUS. A clean stop removes ` + cniconf.ConflistName + `
from --cni-conf-dir; a crash is recorded in ` + crashloop.HistoryName + ` beside --checkpoint-path,
and a crash loop (` + fmt.Sprint(crashloop.CrashLimit) + ` crashes within ` + crashloop.CrashWindow.String() + `) removes it. Run by hand (no
SERVICE_RESULT) it removes it. The plugin stays; the agent writes the
conflist again once it serves, and kubelet then reports the node Ready.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exit := crashloop.ExitFromEnv(a.getenv)
			out, err := crashloop.Hook{ConfDir: confDir, HistoryPath: crashloop.HistoryPath(checkpointPath)}.Run(exit)
			if err != nil {
				return err
			}
			conflist := filepath.Join(confDir, cniconf.ConflistName)
			switch {
			case out.Removed:
				fmt.Fprintf(a.stdout, "removed %s: %s\n", conflist, out.Reason)
			case out.Withdraw:
				fmt.Fprintf(a.stdout, "%s was not there: %s\n", conflist, out.Reason)
			default:
				fmt.Fprintf(a.stdout, "kept %s: %s\n", conflist, out.Reason)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&confDir, "cni-conf-dir", installSettingDefault(a, "EKSNET_CNI_CONF_DIR"), "CNI configuration directory [env EKSNET_CNI_CONF_DIR]")
	cmd.Flags().StringVar(&checkpointPath, "checkpoint-path", installSettingDefault(a, "EKSNET_CHECKPOINT_PATH"), "the agent's checkpoint; the crash history is kept beside it [env EKSNET_CHECKPOINT_PATH]")
	return cmd
}
