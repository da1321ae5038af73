package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/spf13/cobra"
)

func newDestroyCmd(a *app) *cobra.Command {
	var pf projectFlags
	cmd := &cobra.Command{
		Use:   "destroy ENV",
		Short: "Delete the stack's resources (needs the pulumi CLI and AWS credentials)",
		Long: `Run ` + "`pulumi destroy`" + ` for stack ENV through the Automation API. Protected
resources (prod: VPC, cluster, KMS key, agent bucket) stop it until
eksnet:protect is set to false and ` + "`eksnet up`" + ` has run.`,
		Args:              envArg(&pf),
		ValidArgsFunction: completeStacks(&pf),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, _, err := a.openStack(cmd.Context(), &pf, args[0])
			if err != nil {
				return err
			}
			_, err = st.Destroy(cmd.Context(), optdestroy.ProgressStreams(a.stdout), optdestroy.ErrorProgressStreams(a.stderr))
			return err
		},
	}
	pf.register(cmd)
	return cmd
}
