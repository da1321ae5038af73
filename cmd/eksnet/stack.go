package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/internal/cli"
	"github.com/eksnet/eksnet/stacks"
)

func newStackCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stack",
		Short: "Manage eksnet stack configurations (stacks/Pulumi.<env>.yaml)",
	}
	cmd.AddCommand(newStackNewCmd(a), newStackSetCmd(a), newStackGetCmd(a))
	return cmd
}

// keyArgs checks the ENV KEY [VALUE] arguments of stack set and get.
func keyArgs(pf *projectFlags, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return envArg(pf)(cmd, args)
		}
		if len(args) < len(names) {
			missing := names[len(args)]
			what := "the config key, e.g. network.nat, nodeGroups[0].maxSize or aws:region; accepted keys: eksnet:" + strings.Join(stacks.Keys, ", eksnet:") + ", " + strings.Join(stacks.SettableAWSKeys, ", ")
			if missing == "VALUE" {
				what = "the value to set"
			}
			return cli.Usagef("missing %s: %s\n%s", missing, what, cli.HelpHint(cmd))
		}
		if len(args) > len(names) {
			return cli.Usagef("%s takes %s, got %d arguments (quote a VALUE with spaces)\n%s", cmd.CommandPath(), strings.Join(names, " "), len(args), cli.HelpHint(cmd))
		}
		return nil
	}
}

func newStackSetCmd(a *app) *cobra.Command {
	var pf projectFlags
	cmd := &cobra.Command{
		Use:   "set ENV KEY VALUE [KEY VALUE]...",
		Short: "Override preset settings in stacks/Pulumi.<ENV>.yaml, as `pulumi config set --path` would, without the pulumi CLI",
		Long: `Write KEY=VALUE into stacks/Pulumi.<ENV>.yaml exactly as
` + "`pulumi config set --path KEY VALUE -s ENV`" + ` would: KEY is eksnet:key (the eksnet:
may be left out) with .field and [index] steps; below the top level true/false
are booleans and integers numbers, everything else a string; a top-level value
is always a string (give an object or list there as JSON).

The result is checked with the decoder and the validation every command runs
before it is written: a bad key or value is an error naming it, and the file
is left as it was. A valid stack is never made invalid: give changes that are
only valid together (two zones, a CIDR and its subnet sizes) in one command.

Accepted keys: eksnet:` + strings.Join(stacks.Keys, ", eksnet:") + `, ` + strings.Join(stacks.SettableAWSKeys, ", ") + `
(fields: docs/provisioning.md, "Config keys").`,
		Example: `  eksnet stack set dev network.nat per-az
  eksnet stack set dev 'cluster.publicAccessCidrs[0]' 203.0.113.7/32
  eksnet stack set dev 'network.availabilityZones[0]' us-east-2a 'network.availabilityZones[1]' us-east-2c
  eksnet stack get dev 'nodeGroups[0].maxSize'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) <= 3 {
				return keyArgs(&pf, "ENV", "KEY", "VALUE")(cmd, args)
			}
			if len(args)%2 == 0 {
				return cli.Usagef("missing VALUE for KEY %s: settings come in KEY VALUE pairs (quote a VALUE with spaces)\n%s", args[len(args)-1], cli.HelpHint(cmd))
			}
			return nil
		},
		ValidArgsFunction: completeStacks(&pf),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := pf.root()
			if err != nil {
				return err
			}
			var settings []stacks.Setting
			var done []string
			for i := 1; i+1 < len(args); i += 2 {
				kp, err := stacks.ParseKeyPath(args[i])
				if err != nil {
					return cli.Usage(err)
				}
				settings = append(settings, stacks.Setting{Key: args[i], Value: args[i+1]})
				done = append(done, fmt.Sprintf("set %s = %s", kp, args[i+1]))
			}
			warning, err := stacks.Set(root, args[0], settings...)
			if err != nil {
				var missing *stacks.MissingStackError
				if errors.As(err, &missing) {
					return err
				}
				return cli.Usage(err)
			}
			fmt.Fprintf(a.stdout, "%s\nin %s\n", strings.Join(done, "\n"), stacks.FilePath(root, args[0]))
			if warning != nil {
				fmt.Fprintf(a.stderr, "warning: %v\n", warning)
			}
			return nil
		},
	}
	pf.register(cmd)
	return cmd
}

func newStackGetCmd(a *app) *cobra.Command {
	var pf projectFlags
	cmd := &cobra.Command{
		Use:   "get ENV KEY",
		Short: "Print the value of a setting in effect for stack ENV (the stack file's, else the preset's)",
		Long: `Print the value KEY has for stack ENV: what stacks/Pulumi.<ENV>.yaml sets,
else the preset's default. KEY is as for ` + "`eksnet stack set`" + `; strings print bare,
everything else as JSON.`,
		Example: `  eksnet stack get dev network.nat
  eksnet stack get prod nodeGroups       # the whole list, as JSON`,
		Args:              keyArgs(&pf, "ENV", "KEY"),
		ValidArgsFunction: completeStacks(&pf),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := pf.root()
			if err != nil {
				return err
			}
			if _, err := stacks.ParseKeyPath(args[1]); err != nil {
				return cli.Usage(err)
			}
			cfg, err := stacks.Load(root, args[0])
			if err != nil {
				return err
			}
			v, err := stacks.Get(cfg, args[1])
			if err != nil {
				return cli.Usage(err)
			}
			_, err = fmt.Fprintln(a.stdout, v)
			return err
		},
	}
	pf.register(cmd)
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
and can be overridden with ` + "`eksnet stack set ENV KEY VALUE`" + ` (or
` + "`pulumi config set --path eksnet:<key> <value> -s ENV`" + `);
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
				return cli.Usagef("--region: not set and neither AWS_REGION nor AWS_DEFAULT_REGION is; give the AWS region, e.g. --region us-west-2")
			}
			root, err := pf.root()
			if err != nil {
				return err
			}
			f, err := stacks.NewStackFile(env, preset, region)
			if err != nil {
				return cli.Usage(err) // every input is a flag or the argument
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
