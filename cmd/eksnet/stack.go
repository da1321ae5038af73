package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/stacks"
)

func newStackCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stack",
		Short: "Manage eksnet stack configurations (stacks/Pulumi.<env>.yaml)",
	}
	cmd.AddCommand(newStackNewCmd(a))
	return cmd
}

func newStackNewCmd(a *app) *cobra.Command {
	var (
		pf     projectFlags
		preset string
		region string
	)
	cmd := &cobra.Command{
		Use:   "new ENV --preset dev|staging|prod [--region R]",
		Short: "Write stacks/Pulumi.<ENV>.yaml from a preset",
		Long: `Write the stack configuration for environment ENV: the preset, the AWS region
and the cluster name. Every other setting comes from the preset at run time
and can be overridden with ` + "`pulumi config set [--path] eksnet:<key> <value> -s ENV`" + `;
accepted keys: eksnet:` + strings.Join(stacks.Keys, ", eksnet:") + `.

The region defaults to AWS_REGION, then AWS_DEFAULT_REGION.`,
		Example: `  eksnet stack new dev --preset dev --region us-west-2
  eksnet plan dev`,
		Args: envArg(nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := args[0]
			if region == "" {
				region = a.getenv("AWS_REGION")
			}
			if region == "" {
				region = a.getenv("AWS_DEFAULT_REGION")
			}
			if region == "" {
				return usageErrorf("--region: not set and neither AWS_REGION nor AWS_DEFAULT_REGION is; give the AWS region, e.g. --region us-west-2")
			}
			root, err := pf.root()
			if err != nil {
				return err
			}
			f, err := stacks.NewStackFile(env, preset, region)
			if err != nil {
				return &usageError{err: err} // every input is a flag or the argument
			}
			path := stacks.FilePath(root, env)
			if err := f.Write(path); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "wrote %s (preset %s, region %s)\nnext: eksnet plan %s\n", path, preset, region, env)
			return nil
		},
	}
	pf.register(cmd)
	cmd.Flags().StringVar(&preset, "preset", "", "preset: "+strings.Join(stacks.PresetNames, ", "))
	cmd.Flags().StringVar(&region, "region", "", "AWS region (default $AWS_REGION, then $AWS_DEFAULT_REGION)")
	_ = cmd.MarkFlagRequired("preset")
	return cmd
}
