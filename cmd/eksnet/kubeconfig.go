package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newKubeconfigCmd(a *app) *cobra.Command {
	var pf projectFlags
	cmd := &cobra.Command{
		Use:   "kubeconfig ENV",
		Short: "Print the stack's kubeconfig (from the stack outputs; needs the pulumi CLI)",
		Example: `  eksnet kubeconfig dev > ~/.kube/eksnet-dev
  KUBECONFIG=~/.kube/eksnet-dev kubectl get nodes -L eksnet.io/cni`,
		Args:              envArg(&pf),
		ValidArgsFunction: completeStacks(&pf),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, cfg, err := a.openStack(cmd.Context(), &pf, args[0])
			if err != nil {
				return err
			}
			out, err := st.Outputs(cmd.Context())
			if err != nil {
				return fmt.Errorf("read outputs of stack %s: %w", cfg.Env, err)
			}
			kc, ok := out["kubeconfig"].Value.(string)
			if !ok || kc == "" {
				return fmt.Errorf("stack %s has no kubeconfig output yet: run `eksnet up %s` first", cfg.Env, cfg.Env)
			}
			_, err = fmt.Fprintln(a.stdout, kc)
			return err
		},
	}
	pf.register(cmd)
	return cmd
}
