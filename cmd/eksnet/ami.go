package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/infra"
	"github.com/eksnet/eksnet/stacks"
)

// ssmAPI is the one SSM call ami update makes (*ssm.Client fits).
type ssmAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

func newAMICmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ami",
		Short: "Pin node group AMIs in the stack file",
	}
	var pf projectFlags
	update := &cobra.Command{
		Use:   "update ENV",
		Short: "Resolve AWS's recommended EKS AMI once into eksnet:nodeGroups[i].amiId (reads SSM; needs AWS credentials)",
		Long: `Read, for every node group, the public SSM parameter of AWS's recommended
EKS-optimized AMI for the stack's Kubernetes version, OS and architecture, and
write the ID into stacks/Pulumi.ENV.yaml as eksnet:nodeGroups[i].amiId. An
update refuses node groups without one, so nodes roll to a new AMI only when
this command moved it (review with eksnet plan ENV, then eksnet up ENV).
Credentials and profile are the AWS SDK's usual ones (aws:profile of the stack
first); AWS_ENDPOINT_URL_SSM points it at another endpoint.`,
		Example:           `  eksnet ami update dev && eksnet plan dev`,
		Args:              envArg(&pf),
		ValidArgsFunction: completeStacks(&pf),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, cfg, err := pf.loadStack(args[0])
			if err != nil {
				return err
			}
			client, err := a.ssmClient(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return a.amiUpdate(cmd.Context(), client, root, cfg)
		},
	}
	pf.register(update)
	cmd.AddCommand(update)
	return cmd
}

// amiUpdate reads every node group's recommended AMI and writes them all
// in one stacks.Set, so the file is left untouched if any lookup fails.
func (a *app) amiUpdate(ctx context.Context, client ssmAPI, root string, cfg stacks.Config) error {
	pods, err := cfg.NodeGroupPods()
	if err != nil {
		return err
	}
	var settings []stacks.Setting
	var lines []string
	for i, ng := range cfg.NodeGroups {
		param, err := infra.AMIParameter(cfg.KubernetesVersion, ng.OS, pods[i].Arch)
		if err != nil {
			return fmt.Errorf("node group %s: %w", ng.Name, err)
		}
		out, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param)})
		var nf *ssmtypes.ParameterNotFound
		switch {
		case errors.As(err, &nf):
			return fmt.Errorf("node group %s: AWS publishes no SSM parameter %s in %s (os %s, Kubernetes %s, %s)", ng.Name, param, cfg.Region, ng.OS, cfg.KubernetesVersion, pods[i].Arch)
		case err != nil:
			return fmt.Errorf("node group %s: read SSM parameter %s in %s: %w", ng.Name, param, cfg.Region, err)
		case out.Parameter == nil || aws.ToString(out.Parameter.Value) == "":
			return fmt.Errorf("node group %s: SSM parameter %s has no value", ng.Name, param)
		}
		ami := aws.ToString(out.Parameter.Value)
		settings = append(settings, stacks.Setting{Key: fmt.Sprintf("nodeGroups[%d].amiId", i), Value: ami})
		switch ng.AMIID {
		case ami:
			lines = append(lines, fmt.Sprintf("node group %s: %s unchanged (%s)", ng.Name, ami, param))
		case "":
			lines = append(lines, fmt.Sprintf("node group %s: pinned %s (%s)", ng.Name, ami, param))
		default:
			lines = append(lines, fmt.Sprintf("node group %s: %s -> %s (%s); the next up rolls its nodes", ng.Name, ng.AMIID, ami, param))
		}
	}
	warning, err := stacks.Set(root, cfg.Env, settings...)
	if err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintln(a.stdout, l)
	}
	fmt.Fprintf(a.stdout, "in %s; review with `eksnet plan %s`\n", stacks.FilePath(root, cfg.Env), cfg.Env)
	if warning != nil {
		fmt.Fprintf(a.stderr, "warning: %v\n", warning)
	}
	return nil
}
