package main

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/infra/plan"
	"github.com/eksnet/eksnet/internal/cli"
	"github.com/eksnet/eksnet/stacks"
)

const planOutputText = "text"

func newPlanCmd(a *app) *cobra.Command {
	var (
		pf             projectFlags
		output         string
		preset, region string
	)
	stackArg := envArg(&pf)
	cmd := &cobra.Command{
		Use:   "plan ENV | plan --preset dev|staging|prod [--region R]",
		Short: "Show what the stack would create, with max pods and IP capacity, without AWS or the pulumi CLI",
		Long: `Run the stack's Pulumi program under the Pulumi mock engine: no credentials,
no pulumi CLI, no cloud calls. Prints the resource tree with key inputs, each
node group's max pods with the reason (read back from the rendered user data),
and an IP capacity report per subnet: addresses against max nodes x max pods,
and /28 room in prefix-delegation mode. IDs and ARNs are placeholders.

With --preset instead of ENV it plans the preset as it stands, as ` + "`eksnet sim run --preset`" + `
does, with no stack file (in --region, default ` + simRunDefaultRegion + `).`,
		Example: `  eksnet plan --preset staging
  eksnet stack new dev --preset dev --region us-west-2
  eksnet plan dev
  eksnet plan prod -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if preset == "" {
				return stackArg(cmd, args)
			}
			if len(args) > 0 {
				return cli.Usagef("ENV %s and --preset %s: give one of them (ENV plans stacks/Pulumi.%s.yaml, --preset the preset alone)\n%s", args[0], preset, args[0], cli.HelpHint(cmd))
			}
			return nil
		},
		ValidArgsFunction: completeStacks(&pf),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cli.CheckOutput(output, planOutputText, cli.OutputJSON); err != nil {
				return err
			}
			var cfg stacks.Config
			if preset != "" {
				var err error
				if cfg, err = presetConfig(preset, region); err != nil {
					return err
				}
			} else {
				var err error
				if _, cfg, err = pf.loadStack(args[0]); err != nil {
					if errors.Is(err, fs.ErrNotExist) && slices.Contains(stacks.PresetNames, args[0]) {
						err = fmt.Errorf("%w, or plan the preset alone: `eksnet plan --preset %s`", err, args[0])
					}
					return err
				}
			}
			p, err := plan.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if output == cli.OutputJSON {
				return plan.WriteJSON(a.stdout, p)
			}
			return plan.WriteText(a.stdout, p)
		},
	}
	pf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", planOutputText, "output format: text or json")
	cmd.Flags().StringVar(&preset, "preset", "", "plan a preset without a stack file: "+strings.Join(stacks.PresetNames, ", "))
	cmd.Flags().StringVar(&region, "region", simRunDefaultRegion, "region a --preset is planned in")
	_ = cmd.RegisterFlagCompletionFunc("preset", cobra.FixedCompletions(stacks.PresetNames, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{planOutputText, cli.OutputJSON}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// presetConfig is preset planned as a stack of its own name in region,
// validated; a bad name or region is bad usage.
func presetConfig(preset, region string) (stacks.Config, error) {
	cfg, err := stacks.Preset(preset, preset, region)
	if err != nil {
		return stacks.Config{}, cli.Usagef("--preset: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return stacks.Config{}, cli.Usagef("--preset %s --region %s: %w", preset, region, err)
	}
	return cfg, nil
}
