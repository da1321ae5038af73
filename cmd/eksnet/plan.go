package main

import (
	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/infra/plan"
)

const planOutputText = "text"

func newPlanCmd(a *app) *cobra.Command {
	var (
		pf     projectFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "plan ENV",
		Short: "Show what the stack would create, with max pods and IP capacity, without AWS or the pulumi CLI",
		Long: `Run the stack's Pulumi program under the Pulumi mock engine: no credentials,
no pulumi CLI, no cloud calls. Prints the resource tree with key inputs, each
node group's max pods with the reason (read back from the rendered user data),
and an IP capacity report per subnet: addresses against max nodes x max pods,
and /28 room in prefix-delegation mode. IDs and ARNs are placeholders.`,
		Example: `  eksnet stack new dev --preset dev --region us-west-2
  eksnet plan dev
  eksnet plan prod -o json`,
		Args:              envArg(&pf),
		ValidArgsFunction: completeStacks(&pf),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != planOutputText && output != outputJSON {
				return usageErrorf("-o/--output %q: accepted values are %s, %s", output, planOutputText, outputJSON)
			}
			_, cfg, err := pf.loadStack(args[0])
			if err != nil {
				return err
			}
			p, err := plan.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if output == outputJSON {
				return plan.WriteJSON(a.stdout, p)
			}
			return plan.WriteText(a.stdout, p)
		},
	}
	pf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", planOutputText, "output format: text or json")
	return cmd
}
