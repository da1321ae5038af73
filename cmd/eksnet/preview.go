package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/spf13/cobra"
)

func newPreviewCmd(a *app) *cobra.Command {
	var pf projectFlags
	cmd := &cobra.Command{
		Use:   "preview ENV",
		Short: "Preview the stack's changes against AWS (needs the pulumi CLI and AWS credentials)",
		Long: `Run ` + "`pulumi preview`" + ` for stack ENV through the Automation API with the
program built into eksnet. Needs the pulumi CLI on PATH (or in ~/.pulumi/bin),
AWS credentials and PULUMI_CONFIG_PASSPHRASE. State lives in PULUMI_BACKEND_URL,
else in a local file backend under ~/.eksnet/state.`,
		Args:              envArg(&pf),
		ValidArgsFunction: completeStacks(&pf),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, _, err := a.openStack(cmd.Context(), &pf, args[0])
			if err != nil {
				return err
			}
			_, err = st.Preview(cmd.Context(), optpreview.ProgressStreams(a.stdout), optpreview.ErrorProgressStreams(a.stderr))
			return err
		},
	}
	pf.register(cmd)
	return cmd
}
