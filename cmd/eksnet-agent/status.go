package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/internal/cli"
)

func newStatusCmd(a *app) *cobra.Command {
	var socket string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the agent's pool per ENI, the assignments and the last errors",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("socket-path") {
				if v := a.getenv("EKSNET_SOCKET_PATH"); v != "" {
					socket = v
				}
			}
			c := &rpc.Client{Path: socket, Timeout: 5 * time.Second}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			list, err := c.List(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Status      rpc.Status       `json:"status"`
					Allocations []rpc.Allocation `json:"allocations"`
				}{st, list})
			}
			return printStatus(a, st, list)
		},
	}
	cmd.Flags().StringVar(&socket, "socket-path", rpc.DefaultSocketPath, "agent socket [env EKSNET_SOCKET_PATH]")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printStatus(a *app, st rpc.Status, list []rpc.Allocation) error {
	ready := "ready"
	if !st.Ready {
		ready = "NOT READY"
	}
	if st.Reason != "" {
		ready += " (" + st.Reason + ")"
	}
	fmt.Fprintf(a.stdout, "agent: %s, mode %s, max pods %d, capacity %d\n", ready, st.Mode, st.MaxPods, st.Capacity)
	if st.Version != "" {
		fmt.Fprintf(a.stdout, "version: %s\n", st.Version)
	}
	fmt.Fprintf(a.stdout, "pool: %d total, %d assigned, %d cooling down, %d waiting for IMDS, %d free\n", st.Total, st.Assigned, st.Cooldown, st.Pending, st.Free)
	fmt.Fprintln(a.stdout, networkCardLine(st))
	if st.AttachWaitingFor != "" {
		fmt.Fprintf(a.stdout, "attach: waiting for %s before attaching an ENI\n", st.AttachWaitingFor)
	}
	fmt.Fprintln(a.stdout)
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ENI\tDEVICE\tTOTAL\tASSIGNED\tCOOLDOWN\tPENDING\tPREFIXES")
	for _, e := range st.ENIs {
		id := e.ID
		if e.Primary {
			id += " (primary)"
		}
		var ps []string
		for _, p := range e.Prefixes {
			ps = append(ps, p.String())
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", id, e.DeviceNumber, e.Total, e.Assigned, e.Cooldown, e.Pending, strings.Join(ps, ","))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ADDRESS\tENI\tTABLE\tPOD\tKEY")
	for _, al := range list {
		pod := al.PodNamespace + "/" + al.PodName
		if al.PodName == "" {
			pod = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", al.Address, al.ENIID, al.RouteTable, pod, al.Key)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(st.LastErrors) > 0 {
		fmt.Fprintln(a.stdout, "\nlast errors:")
		for _, e := range st.LastErrors {
			fmt.Fprintln(a.stdout, "  "+e)
		}
	}
	return nil
}

// networkCardLine says which network card the agent uses, and that the
// others of a multi-card type carry no pods.
func networkCardLine(st rpc.Status) string {
	if st.NetworkCards <= 1 {
		return fmt.Sprintf("network cards: card %d only (the instance type has 1)", st.NetworkCard)
	}
	return fmt.Sprintf("network cards: card %d only of %d; the other %d carry no pod ENIs", st.NetworkCard, st.NetworkCards, st.NetworkCards-1)
}
