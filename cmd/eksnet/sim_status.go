package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/internal/cli"
)

func newSimStatusCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a simulated VPC's nodes, ENIs, addresses and EC2/IMDS call counters",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cli.CheckOutput(output, cli.OutputTable, cli.OutputJSON); err != nil {
				return err
			}
			st, s, err := liveSimStatus(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == cli.OutputJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Sim    simState  `json:"sim"`
					Status simStatus `json:"status"`
				}{st, s})
			}
			printSimStatus(a, st, s)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", cli.OutputTable, "output format: table or json")
	return cmd
}

func printSimStatus(a *app, st simState, s simStatus) {
	fmt.Fprintf(a.stdout, "simulation %s (pid %d, up since %s)\n", st.Name, st.PID, st.Started.Format("15:04:05"))
	fmt.Fprintf(a.stdout, "vpc %s %s   ec2 %s   imds %s   echo %s\n\n", st.VPCID, st.VPCCIDR, st.EC2Endpoint, st.IMDSEndpoint, st.InternetEcho)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBNET\tAZ\tCIDR\tFREE")
	for _, sn := range s.State.Subnets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", sn.ID, sn.AZ, sn.CIDR, sn.Available)
	}
	tw.Flush()
	nodeOf := map[string]string{}
	for _, n := range st.Nodes {
		nodeOf[n.InstanceID] = n.Name
	}
	fmt.Fprintln(a.stdout)
	tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENI\tNODE\tDEV\tSTATUS\tMAC\tPRIMARY\tSECONDARY\tPREFIXES")
	for _, e := range s.State.ENIs {
		node, dev := "-", "-"
		if e.InstanceID != "" {
			node, dev = nodeOf[e.InstanceID], fmt.Sprintf("eth%d", e.DeviceIndex)
		}
		var sec, pfx []string
		for _, x := range e.Secondary {
			sec = append(sec, x.String())
		}
		for _, x := range e.Prefixes {
			pfx = append(pfx, x.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, node, dev, e.Status, e.MAC, e.PrimaryIP, dash(sec), dash(pfx))
	}
	tw.Flush()
	fmt.Fprintln(a.stdout)
	tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CALL\tRESULT\tCOUNT")
	for _, action := range slices.Sorted(maps.Keys(s.Calls.ByActionCode)) {
		codes := s.Calls.ByActionCode[action]
		for _, code := range slices.Sorted(maps.Keys(codes)) {
			shown := code
			if shown == "" {
				shown = "ok"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\n", action, shown, codes[code])
		}
	}
	tw.Flush()
}

func dash(v []string) string {
	if len(v) == 0 {
		return "-"
	}
	return strings.Join(v, ",")
}
