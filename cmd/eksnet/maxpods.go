package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/bootstrap/maxpods"
	"github.com/eksnet/eksnet/internal/cli"
)

func newMaxPodsCmd(a *app) *cobra.Command {
	var (
		o      maxpods.Options
		output string
		limits []string
	)
	cmd := &cobra.Command{
		Use:   "maxpods TYPE...",
		Short: "Compute kubelet max pods for EC2 instance types and a CNI mode",
		Long: `Compute the kubelet maxPods value for each instance type, from the embedded
EC2 limits table (ENIs and IPv4 addresses per ENI on the default network card).

  secondary IPs:      enis * (ipsPerENI - 1) + 2
  prefix delegation:  enis * ((ipsPerENI - 1) * 16) + 2   (nitro or bare metal only)
  custom networking:  the primary ENI hosts no pods (enis - 1)
  --max-eni N:        enis = min(N, enis), before custom networking
  --host-network-daemonsets N:  + N, your host-network DaemonSet pods (no ENI address)
  cap:                110 up to 30 vCPUs (or vCPUs unknown), 250 above, unless --uncapped

Several types form one node group: every node gets the group minimum.
JSON output is {"types": [...]} plus "group" when several types are given.`,
		Example: `  eksnet maxpods t3.medium
  eksnet maxpods t3.medium m5.large --prefix-delegation -o json
  eksnet maxpods m9.large --limits m9.large=3,10,2,nitro`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cli.Usagef("missing TYPE: give one or more EC2 instance types, e.g. eksnet maxpods t3.medium m5.large\n%s", cli.HelpHint(cmd))
			}
			return nil
		},
		ValidArgsFunction: completeInstanceTypes,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cli.CheckOutput(output, cli.OutputTable, cli.OutputJSON); err != nil {
				return err
			}
			table, _, err := tableWithLimits(limits)
			if err != nil {
				return err
			}
			g, err := table.CalculateGroup(args, o)
			if err != nil {
				return maxPodsFlagError(err)
			}
			if output == cli.OutputJSON {
				return writeMaxPodsJSON(a.stdout, g)
			}
			return writeMaxPodsTable(a.stdout, g)
		},
	}
	addMaxPodsFlags(cmd, &o, &limits)
	cmd.Flags().BoolVar(&o.Uncapped, "uncapped", false, "report the formula value without the 110/250 kubelet cap")
	cmd.Flags().StringVarP(&output, "output", "o", cli.OutputTable, "output format: table or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{cli.OutputTable, cli.OutputJSON}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// completeInstanceTypes completes instance type names from the embedded
// table, so shell users need not remember family spellings.
func completeInstanceTypes(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	for _, name := range maxpods.Default().Names() {
		if strings.HasPrefix(name, toComplete) {
			out = append(out, name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// addMaxPodsFlags registers the flags maxpods and userdata share, so both
// compute max pods from the same inputs.
func addMaxPodsFlags(cmd *cobra.Command, o *maxpods.Options, limits *[]string) {
	cmd.Flags().BoolVar(&o.PrefixDelegation, "prefix-delegation", false, "assign /28 prefixes to ENIs (nitro or bare-metal types only)")
	cmd.Flags().BoolVar(&o.CustomNetworking, "custom-networking", false, "pods use other subnets: the primary ENI hosts no pods")
	cmd.Flags().IntVar(&o.MaxENI, "max-eni", 0, "attach at most N ENIs (0: the instance type's limit)")
	cmd.Flags().IntVar(&o.HostNetwork.DaemonSets, "host-network-daemonsets", 0, "host-network DaemonSet pods you run on every node beyond kube-proxy and aws-node: each takes a max-pods slot, no address")
	cmd.Flags().StringArrayVar(limits, "limits", nil, "limits of a type the table lacks: "+maxpods.LimitsSyntax+" (repeatable)")
}

// tableWithLimits is the embedded table plus the --limits types, which it
// also returns parsed.
func tableWithLimits(limits []string) (*maxpods.Table, []maxpods.InstanceType, error) {
	extra := make([]maxpods.InstanceType, 0, len(limits))
	for _, s := range limits {
		it, err := maxpods.ParseLimits(s)
		if err != nil {
			return nil, nil, cli.Usagef("--limits: %w", err)
		}
		extra = append(extra, it)
	}
	t, err := maxpods.Default().With(extra...)
	if err != nil {
		return nil, nil, cli.Usagef("--limits: %w", err)
	}
	return t, extra, nil
}

// maxPodsFlagError prefixes calculator errors with the argument or flag the
// user has to change.
func maxPodsFlagError(err error) error {
	var unknown *maxpods.UnknownInstanceTypeError
	switch {
	case errors.As(err, &unknown):
		return cli.Usagef("instance type: %w (for a type newer than the table, pass --limits %s)", err, maxpods.LimitsSyntax)
	case errors.Is(err, maxpods.ErrPrefixDelegationUnsupported):
		return cli.Usagef("--prefix-delegation: %w", err)
	case errors.Is(err, maxpods.ErrInvalidMaxENI):
		return cli.Usagef("--max-eni: %w", err)
	case errors.Is(err, maxpods.ErrInvalidHostNetwork):
		return cli.Usagef("--host-network-daemonsets: %w", err)
	}
	return err
}

type maxPodsJSON struct {
	Types []maxpods.Result `json:"types"`
	Group *groupJSON       `json:"group,omitempty"`
}

type groupJSON struct {
	MaxPods               int    `json:"maxPods"`
	LimitedBy             string `json:"limitedBy"`
	KubeReservedMemoryMiB int    `json:"kubeReservedMemoryMiB"`
}

func writeMaxPodsJSON(w io.Writer, g maxpods.GroupResult) error {
	out := maxPodsJSON{Types: g.Types}
	if len(g.Types) > 1 {
		out.Group = &groupJSON{MaxPods: g.MaxPods, LimitedBy: g.LimitedBy, KubeReservedMemoryMiB: g.KubeReservedMemoryMiB}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // cap reasons say "<= 30 vCPUs"
	return enc.Encode(out)
}

func writeMaxPodsTable(w io.Writer, g maxpods.GroupResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE TYPE\tMAX PODS\tUNCAPPED\tENIS\tPOD ENIS\tIPS/ENI\tVCPUS\tMODE\tKUBE-RESERVED MEMORY\tNOTE")
	for _, r := range g.Types {
		vcpus := fmt.Sprint(r.VCPUs)
		if r.VCPUs == 0 {
			vcpus = "?"
		}
		mode := r.Mode
		if r.CustomNetworking {
			mode += "+custom-networking"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%dMi\t%s\n",
			r.InstanceType, r.MaxPods, r.Uncapped, r.ENIs, r.PodENIs, r.IPsPerENI, vcpus, mode, r.KubeReservedMemoryMiB, r.CapReason)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing max-pods table: %w", err)
	}
	if len(g.Types) > 1 {
		_, err := fmt.Fprintf(w, "\nnode group: max pods %d (limited by %s), kube-reserved memory %dMi\n", g.MaxPods, g.LimitedBy, g.KubeReservedMemoryMiB)
		return err
	}
	return nil
}
