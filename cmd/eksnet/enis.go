package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/cni-agent/cloud"
)

func newENIsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "enis",
		Short: "Handle the ENIs the node agent created",
	}
	var (
		pf    projectFlags
		yes   bool
		flags sweepFlags
	)
	sweep := &cobra.Command{
		Use:   "sweep ENV [--dry-run] [--yes] [--timeout D]",
		Short: "Delete the cluster's leftover agent ENIs, which keep its subnets from being deleted (needs AWS credentials)",
		Long: `Delete the ENIs tagged ` + cloud.TagCluster + `=<cluster> that are left in the
stack's subnets: available ones at once; those on stopped instances after a
detach; those still attached to terminated instances (or detaching) after
--stuck-after, with a forced detach. Never an ENI without the tag, a primary
ENI (device 0), or an ENI of a running instance (reported as skipped, with the
reason). ` + "`eksnet destroy`" + ` runs this between deleting the node groups and the rest.

--dry-run reports what a sweep would do and changes nothing. Otherwise it
shows that report and asks for confirmation; --yes skips the question, and
without a terminal on stdin it refuses unless --yes is given (exit status 2).
Credentials and profile are the AWS SDK's usual ones (aws:profile of the stack
first); AWS_ENDPOINT_URL_EC2 points it at another endpoint.`,
		Example: `  eksnet enis sweep dev --dry-run
  eksnet enis sweep dev --yes --timeout 10m`,
		Args:              envArg(&pf),
		ValidArgsFunction: completeStacks(&pf),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cfg, err := pf.loadStack(args[0])
			if err != nil {
				return err
			}
			o, err := flags.options(cfg)
			if err != nil {
				return err
			}
			if !o.DryRun {
				review := "review `eksnet enis sweep " + cfg.Env + " --dry-run`"
				if err := a.requireTerminal("enis sweep", cfg.Env, review, yes); err != nil {
					return err
				}
			}
			api, err := a.ec2Client(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if !o.DryRun && !yes {
				look := o
				look.DryRun = true
				rep, err := cloud.Sweep(ctx, api, look)
				writeSweepReport(a.stdout, rep)
				if err != nil {
					return err
				}
				if len(rep.Deleted)+len(rep.Detached)+len(rep.Left) == 0 {
					return nil
				}
				if err := a.confirm("enis sweep", cfg.Env, fmt.Sprintf("Sweep these ENIs of cluster %s in %s (account of the current AWS credentials)?", cfg.ClusterName, cfg.Region), false); err != nil {
					return err
				}
			}
			rep, err := cloud.Sweep(ctx, api, o)
			writeSweepReport(a.stdout, rep)
			return err
		},
	}
	pf.register(sweep)
	flags.register(sweep, "timeout", true)
	sweep.Flags().BoolVarP(&yes, "yes", "y", false, "sweep without asking (needed when stdin is not a terminal)")
	cmd.AddCommand(sweep)
	return cmd
}

// writeSweepReport prints one line per ENI the sweep touched, skipped or
// left, then a count.
func writeSweepReport(w io.Writer, rep cloud.SweepReport) {
	verb := func(done, would string) string {
		if rep.DryRun {
			return would
		}
		return done
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	line := func(what string, e cloud.SweptENI) {
		inst := e.InstanceID
		if inst == "" {
			inst = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", what, e.ID, e.SubnetID, inst, e.Reason)
	}
	for _, e := range rep.Detached {
		what := verb("detached", "would detach")
		if e.Forced {
			what = verb("force-detached", "would force-detach")
		}
		line(what, e)
	}
	for _, e := range rep.Deleted {
		line(verb("deleted", "would delete"), e)
	}
	for _, e := range rep.Left {
		line(verb("left", "would wait for"), e)
	}
	for _, e := range rep.Skipped {
		line("skipped", e)
	}
	tw.Flush()
	fmt.Fprintf(w, "ENIs of cluster %s: %d %s, %d %s, %d skipped, %d %s\n", rep.Cluster,
		len(rep.Deleted), verb("deleted", "to delete"), len(rep.Detached), verb("detached", "to detach"),
		len(rep.Skipped), len(rep.Left), verb("left", "to wait for"))
}
