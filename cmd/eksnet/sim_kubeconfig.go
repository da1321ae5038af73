package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func newSimKubeconfigCmd(a *app) *cobra.Command {
	var pathOnly bool
	cmd := &cobra.Command{
		Use:   "kubeconfig NAME",
		Short: "Print the cluster-admin kubeconfig of a kept simulation with Kubernetes",
		Example: `  sudo eksnet sim run --preset dev --name demo --keep &
  eksnet sim kubeconfig demo > demo.kubeconfig && kubectl --kubeconfig demo.kubeconfig get nodes,pods -A -o wide
  kubectl --kubeconfig "$(eksnet sim kubeconfig demo --path)" get nodes`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("sim kubeconfig: want the simulation's NAME (see `eksnet sim list`), got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			st, err := readSimState(args[0])
			if err != nil {
				return err
			}
			if !processAlive(st.PID) {
				return fmt.Errorf("simulation %q: its process (pid %d) is gone; clean up with `eksnet sim down %s`", st.Name, st.PID, st.Name)
			}
			if st.Kubeconfig == "" {
				return fmt.Errorf("simulation %q has no Kubernetes layer: start one with `eksnet sim run --keep --name %s` (Kubernetes is on by default)", st.Name, st.Name)
			}
			if pathOnly {
				_, err := fmt.Fprintln(a.stdout, st.Kubeconfig)
				return err
			}
			b, err := os.ReadFile(st.Kubeconfig)
			if err != nil {
				return fmt.Errorf("simulation %q: reading its kubeconfig: %w", st.Name, err)
			}
			_, err = a.stdout.Write(b)
			return err
		},
	}
	cmd.Flags().BoolVar(&pathOnly, "path", false, "print the kubeconfig's path instead of its content")
	return cmd
}
