package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/cni-agent/cloud"
	"github.com/eksnet/eksnet/internal/cli"
	"github.com/eksnet/eksnet/stacks"
)

// nodeGroupType is the Pulumi type of a managed node group; destroy takes
// these down first so no node is left to hold ENIs in the subnets.
const nodeGroupType = "aws:eks/nodeGroup:NodeGroup"

// destroyEngine is what destroy needs of a Pulumi stack (pulumiEngine over
// auto.Stack in production), so its order is testable without the CLI.
type destroyEngine interface {
	// URNs returns the URNs of the stack's resources of Pulumi type typ.
	URNs(ctx context.Context, typ string) ([]string, error)
	// Destroy deletes the targets and what depends on them; no targets
	// means the whole stack.
	Destroy(ctx context.Context, targets []string) error
}

func newDestroyCmd(a *app) *cobra.Command {
	var (
		pf    projectFlags
		yes   bool
		sweep sweepFlags
	)
	cmd := &cobra.Command{
		Use:   "destroy ENV [--yes]",
		Short: "Delete the stack's resources (needs the pulumi CLI and AWS credentials)",
		Long: `Run ` + "`pulumi destroy`" + ` for stack ENV through the Automation API. It checks the
pulumi CLI and PULUMI_CONFIG_PASSPHRASE first, then prints what the stack's
configuration plans (what destroy deletes) and asks for confirmation; --yes
skips the question, and without a terminal on stdin it refuses unless --yes is
given (exit status 2). Protected resources (prod: VPC, cluster, KMS key, agent
bucket) stop it until eksnet:protect is set to false and ` + "`eksnet up`" + ` has run.

It runs in three steps, so ENIs the node agent left behind cannot stop the
subnets from going (DependencyViolation): first the node groups (` + nodeGroupType + `)
and what depends on them, then ` + "`eksnet enis sweep`" + ` (the ENIs tagged
` + cloud.TagCluster + `=<cluster>, detached or stuck on terminated nodes), then
everything else. Rerunning it after a failure picks up where it stopped.`,
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
			o, err := sweep.options(cfg)
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
			api, err := a.ec2Client(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return a.destroyInOrder(cmd.Context(), pulumiEngine{st: st, stdout: a.stdout, stderr: a.stderr}, api, cfg, o)
		},
	}
	pf.register(cmd)
	sweep.register(cmd, "sweep-timeout", false)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "destroy without asking (needed when stdin is not a terminal)")
	return cmd
}

// destroyInOrder destroys the node groups, sweeps the cluster's ENIs, then
// destroys the rest; a failed step stops it, naming the step.
func (a *app) destroyInOrder(ctx context.Context, eng destroyEngine, api cloud.SweepAPI, cfg stacks.Config, o cloud.SweepOptions) error {
	groups, err := eng.URNs(ctx, nodeGroupType)
	if err != nil {
		return fmt.Errorf("destroy %s: listing its node groups: %w", cfg.Env, err)
	}
	if len(groups) > 0 {
		fmt.Fprintf(a.stdout, "destroy %s, step 1 of 3: the %d node groups and what depends on them\n", cfg.Env, len(groups))
		if err := eng.Destroy(ctx, groups); err != nil {
			return fmt.Errorf("destroy %s, step 1 (node groups): %w", cfg.Env, err)
		}
	}
	fmt.Fprintf(a.stdout, "destroy %s, step 2 of 3: the ENIs tagged %s=%s\n", cfg.Env, cloud.TagCluster, o.Cluster)
	rep, err := cloud.Sweep(ctx, api, o)
	writeSweepReport(a.stdout, rep)
	if err != nil {
		return fmt.Errorf("destroy %s, step 2 (ENI sweep; rerun destroy, or see `eksnet enis sweep %s --dry-run`): %w", cfg.Env, cfg.Env, err)
	}
	fmt.Fprintf(a.stdout, "destroy %s, step 3 of 3: every other resource\n", cfg.Env)
	if err := eng.Destroy(ctx, nil); err != nil {
		return fmt.Errorf("destroy %s, step 3 (the rest): %w", cfg.Env, err)
	}
	return nil
}

// pulumiEngine is destroyEngine over a Pulumi stack.
type pulumiEngine struct {
	st             auto.Stack
	stdout, stderr io.Writer
}

func (e pulumiEngine) URNs(ctx context.Context, typ string) ([]string, error) {
	dep, err := e.st.Export(ctx)
	if err != nil {
		return nil, fmt.Errorf("export stack %s: %w", e.st.Name(), err)
	}
	return urnsOfType(dep.Deployment, typ)
}

// urnsOfType reads the URNs of the resources of type typ from an exported
// deployment (empty for a stack never deployed).
func urnsOfType(deployment json.RawMessage, typ string) ([]string, error) {
	if len(deployment) == 0 {
		return nil, nil
	}
	var d struct {
		Resources []struct {
			URN  string `json:"urn"`
			Type string `json:"type"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(deployment, &d); err != nil {
		return nil, fmt.Errorf("reading the exported deployment: %w", err)
	}
	var urns []string
	for _, r := range d.Resources {
		if r.Type == typ {
			urns = append(urns, r.URN)
		}
	}
	return urns, nil
}

func (e pulumiEngine) Destroy(ctx context.Context, targets []string) error {
	opts := []optdestroy.Option{optdestroy.ProgressStreams(e.stdout), optdestroy.ErrorProgressStreams(e.stderr)}
	if len(targets) > 0 {
		opts = append(opts, optdestroy.Target(targets), optdestroy.TargetDependents())
	}
	_, err := e.st.Destroy(ctx, opts...)
	return err
}

// sweepFlags are the ENI sweep's knobs, shared by destroy and enis sweep.
type sweepFlags struct {
	timeoutFlag         string
	timeout, stuckAfter time.Duration
	dryRun              bool
}

// register adds the flags to cmd; timeoutFlag names the timeout flag
// (destroy has its own steps, so its is --sweep-timeout).
func (f *sweepFlags) register(cmd *cobra.Command, timeoutFlag string, dryRun bool) {
	f.timeoutFlag = timeoutFlag
	cmd.Flags().DurationVar(&f.timeout, timeoutFlag, cloud.DefaultSweepTimeout, "how long the ENI sweep may take")
	cmd.Flags().DurationVar(&f.stuckAfter, "stuck-after", cloud.DefaultSweepStuckAfter, "how long an ENI may stay attached to a terminated instance (or detaching) before it is force-detached")
	if dryRun {
		cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "only report what a sweep would do")
	}
}

// options checks the flags (bad usage names the flag) and returns the
// sweep of cfg's cluster they ask for.
func (f *sweepFlags) options(cfg stacks.Config) (cloud.SweepOptions, error) {
	if f.timeout <= 0 {
		return cloud.SweepOptions{}, cli.Usagef("--%s %v: must be a positive duration, e.g. 5m", f.timeoutFlag, f.timeout)
	}
	if f.stuckAfter <= 0 {
		return cloud.SweepOptions{}, cli.Usagef("--stuck-after %v: must be a positive duration, e.g. 30s", f.stuckAfter)
	}
	return cloud.SweepOptions{Cluster: cfg.ClusterName, DryRun: f.dryRun, Timeout: f.timeout, StuckAfter: f.stuckAfter}, nil
}
