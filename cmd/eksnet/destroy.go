package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/spf13/cobra"
)

func newDestroyCmd(a *app) *cobra.Command {
	var (
		pf  projectFlags
		yes bool
	)
	cmd := &cobra.Command{
		Use:   "destroy ENV [--yes]",
		Short: "Delete the stack's resources (needs the pulumi CLI and AWS credentials)",
		Long: `Run ` + "`pulumi destroy`" + ` for stack ENV through the Automation API. It checks the
pulumi CLI and PULUMI_CONFIG_PASSPHRASE first, then prints what the stack's
configuration plans (what destroy deletes) and asks for confirmation; --yes
skips the question, and without a terminal on stdin it refuses unless --yes is
given (exit status 2). Protected resources (prod: VPC, cluster, KMS key, agent
bucket) stop it until eksnet:protect is set to false and ` + "`eksnet up`" + ` has run.`,
		Args:              envArg(&pf),
		ValidArgsFunction: completeStacks(&pf),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.checkPulumi(); err != nil {
				return err
			}
			root, cfg, err := pf.loadStack(args[0])
			if err != nil {
				return err
			}
			if err := a.confirmPlan(cmd.Context(), cfg, "destroy", yes); err != nil {
				return err
			}
			st, err := a.pulumiStack(cmd.Context(), root, cfg)
			if err != nil {
				return err
			}
			_, err = st.Destroy(cmd.Context(), optdestroy.ProgressStreams(a.stdout), optdestroy.ErrorProgressStreams(a.stderr))
			return err
		},
	}
	pf.register(cmd)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "destroy without asking (needed when stdin is not a terminal)")
	return cmd
}
