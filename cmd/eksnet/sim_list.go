package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/internal/cli"
	"github.com/eksnet/eksnet/sim"
)

// simListEntry is one simulation as `sim list` shows it.
type simListEntry struct {
	Name string `json:"name"`
	// State is "running", "starting" (no state file yet) or "stale"
	// (its daemon is gone: `sim down NAME` cleans up).
	State      string `json:"state"`
	Kind       string `json:"kind,omitempty"`
	Stack      string `json:"stack,omitempty"`
	PID        int    `json:"pid"`
	Nodes      int    `json:"nodes"`
	Kubernetes bool   `json:"kubernetes"`
}

func newSimListCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the simulations on this machine (sim up, and sim run --keep)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cli.CheckOutput(output, cli.OutputTable, cli.OutputJSON); err != nil {
				return err
			}
			list, err := listSims()
			if err != nil {
				return err
			}
			if output == cli.OutputJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			if len(list) == 0 {
				fmt.Fprintln(a.stdout, "no simulations (start one with `eksnet sim up --name NAME` or `eksnet sim run --keep`)")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tKIND\tSTACK\tNODES\tKUBERNETES\tPID")
			for _, e := range list {
				k := "no"
				if e.Kubernetes {
					k = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\n", e.Name, e.State, dashIfEmpty(e.Kind), dashIfEmpty(e.Stack), e.Nodes, k, e.PID)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", cli.OutputTable, "output format: table or json")
	return cmd
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// listSims reads every simulation's state directory.
func listSims() ([]simListEntry, error) {
	dirs, err := os.ReadDir(simStateRoot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", simStateRoot, err)
	}
	var out []simListEntry
	for _, d := range dirs {
		if !d.IsDir() || sim.ValidateName(d.Name()) != nil {
			continue
		}
		e := simListEntry{Name: d.Name(), PID: readPID(d.Name()), State: "stale"}
		if processAlive(e.PID) {
			e.State = "starting"
		}
		if st, err := readSimState(d.Name()); err == nil {
			e.Kind, e.Stack, e.Nodes, e.Kubernetes = st.Kind, st.Stack, len(st.Nodes), st.Kubeconfig != ""
			if e.Kind == "" {
				e.Kind = "vpc"
			}
			if processAlive(st.PID) {
				e.State = "running"
			}
		}
		out = append(out, e)
	}
	return out, nil
}
