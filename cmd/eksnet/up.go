package main

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/infra"
)

func newUpCmd(a *app) *cobra.Command {
	var (
		pf  projectFlags
		yes bool
	)
	cmd := &cobra.Command{
		Use:   "up ENV [--yes]",
		Short: "Create or update the stack in AWS (needs the pulumi CLI and AWS credentials)",
		Long: `Run ` + "`pulumi up`" + ` for stack ENV through the Automation API, streaming progress.
It checks the pulumi CLI and PULUMI_CONFIG_PASSPHRASE first, then prints the plan
(as ` + "`eksnet plan ENV`" + `) and asks for confirmation; --yes skips the question, and
without a terminal on stdin it refuses unless --yes is given (exit status 2).
Refuses agent mode until the node bundles (eksnet bundle) are configured, a public endpoint or demo ALB until eksnet:cluster.publicAccessCidrs / eksnet:addons.demoAllowedCidrs name who may reach them, and the demo until eksnet:addons.demoImage pins its image by digest; ` + "`eksnet plan ENV`" + ` lists the same refusals. See ` + "`eksnet preview --help`" + `
for the CLI, credential and backend requirements.`,
		Example: `  eksnet up dev
  eksnet up prod --yes   # in CI, after reviewing eksnet plan prod`,
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
			if err := infra.RequireDeployable(cfg); err != nil {
				return err
			}
			if err := a.confirmPlan(cmd.Context(), cfg, "up", yes); err != nil {
				return err
			}
			st, err := a.pulumiStack(cmd.Context(), root, cfg)
			if err != nil {
				return err
			}
			res, err := st.Up(cmd.Context(), optup.ProgressStreams(a.stdout), optup.ErrorProgressStreams(a.stderr))
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "stack %s is up; kubeconfig: eksnet kubeconfig %s > kubeconfig\n", cfg.Env, cfg.Env)
			if v, ok := res.Outputs["maxPods"]; ok {
				fmt.Fprintf(a.stdout, "max pods per node group: %v\n", v.Value)
			}
			return nil
		},
	}
	pf.register(cmd)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "apply without asking (needed when stdin is not a terminal)")
	return cmd
}
