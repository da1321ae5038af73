package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/bootstrap/maxpods"
	"github.com/eksnet/eksnet/bootstrap/userdata"
	"github.com/eksnet/eksnet/internal/cli"
)

// userDataFlags maps userdata.Config field paths to the flags that set them,
// so validation errors name what the user typed.
var userDataFlags = map[string]string{
	"OS":                          "--os",
	"ClusterName":                 "--cluster",
	"Endpoint":                    "--endpoint",
	"CertificateAuthority":        "--ca",
	"ServiceCIDR":                 "--service-cidr",
	"MaxPods":                     "--instance-type",
	"CNI":                         "--cni",
	"Agent.Binaries":              "--agent-url/--agent-sha256",
	"Agent.WarmIPTarget":          "--warm-ip-target",
	"Agent.MinimumIPTarget":       "--minimum-ip-target",
	"Agent.WarmPrefixTarget":      "--warm-prefix-target",
	"Agent.WarmENITarget":         "--warm-eni-target",
	"Agent.MaxENI":                "--max-eni",
	"Agent.HostNetworkDaemonSets": "--host-network-daemonsets",
	"Agent.SNATExcludeCIDRs":      "--snat-exclude-cidr",
	"NodeLabels":                  "--node-label",
}

func newUserDataCmd(a *app) *cobra.Command {
	var (
		c           userdata.Config
		o           maxpods.Options
		osName, cni string
		types       []string
		limits      []string
		agentURL    string
		agentSums   []string
		labels      []string
		b64         bool
	)
	cmd := &cobra.Command{
		Use:   "userdata --cluster NAME --endpoint URL --ca B64 --service-cidr CIDR --instance-type T...",
		Short: "Render node user data with eksnet's max pods (and the agent install in agent mode)",
		Long: `Render EC2 user data that joins a node to the cluster with the max pods computed
for its instance types (the node-group minimum) and CNI mode:

  al2023        MIME multipart with a nodeadm NodeConfig (maxPods, kube-reserved memory)
  al2           MIME multipart calling bootstrap.sh --use-max-pods false --kubelet-extra-args '--max-pods=N'
  bottlerocket  settings TOML with an integer max-pods (aws-vpc-cni only: it runs no scripts)

With --cni agent a shell part downloads the node bundle for the node's architecture
(eksnet-agent + eksnet-cni, built by "eksnet bundle") from --agent-url (use {arch}
for amd64/arm64), checks --agent-sha256, unpacks both into /usr/local/bin, writes
/etc/eksnet/agent.env and the eksnet-agent systemd unit, and starts it before kubelet.
The agent's flags (--agent-url, --agent-sha256, the warm targets, --external-snat,
--snat-exclude-cidr) are errors with --cni aws-vpc-cni, which runs no agent.`,
		Example: `  eksnet userdata --os al2023 --cluster dev --endpoint https://ABC.gr7.us-east-1.eks.amazonaws.com \
    --ca "$CA_B64" --service-cidr 172.20.0.0/16 --instance-type t3.medium --instance-type t3a.medium \
    --prefix-delegation --agent-url 's3://dev-artifacts/eksnet/eksnet-node-linux-{arch}.tar.gz' \
    --agent-sha256 amd64=$AMD64_SUM --agent-sha256 arm64=$ARM64_SUM`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := agentOnlyFlags(cmd, cni); err != nil {
				return err
			}
			if userdata.CNI(cni) == userdata.CNIAgent && o.CustomNetworking {
				return cli.Usagef("--custom-networking: %s; drop it, or use --cni aws-vpc-cni", userdata.AgentRefusesCustomNetworking)
			}
			if len(types) == 0 {
				return cli.Usagef("--instance-type: required; give the node group's EC2 instance types (repeatable), e.g. --instance-type t3.medium")
			}
			table, extra, err := tableWithLimits(limits)
			if err != nil {
				return err
			}
			o.HostNetwork.Agent = userdata.CNI(cni) == userdata.CNIAgent // kube-proxy only: no aws-node pod
			g, err := table.CalculateGroup(types, o)
			if err != nil {
				return maxPodsFlagError(err)
			}
			if c.NodeLabels, err = parseNodeLabels(labels); err != nil {
				return err
			}
			bins, err := userdata.AgentBinaries(agentURL, agentSums)
			if err != nil {
				return userDataFlagError(err)
			}
			c.OS, c.CNI = userdata.OS(osName), userdata.CNI(cni)
			c.MaxPods, c.KubeReservedMemoryMiB = g.MaxPods, g.KubeReservedMemoryMiB
			c.PrefixDelegation, c.Agent.MaxENI, c.Agent.Binaries = o.PrefixDelegation, o.MaxENI, bins
			if c.CNI == userdata.CNIAgent {
				c.Agent.InstanceLimits = extra // the agent sizes its pool from the same limits
				// Max pods counts them; the agent must leave them out of its pool.
				c.Agent.HostNetworkDaemonSets = o.HostNetwork.DaemonSets
			}
			render := userdata.Render
			if b64 {
				render = userdata.RenderBase64
			}
			out, err := render(c)
			if err != nil {
				return userDataFlagError(err)
			}
			fmt.Fprintf(a.stderr, "max pods %d (limited by %s), kube-reserved memory %dMi\n", g.MaxPods, g.LimitedBy, g.KubeReservedMemoryMiB)
			_, err = io.WriteString(a.stdout, out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&osName, "os", string(userdata.OSAL2023), "node OS: al2023, al2 or bottlerocket")
	f.StringVar(&c.ClusterName, "cluster", "", "EKS cluster name")
	f.StringVar(&c.Endpoint, "endpoint", "", "cluster API server URL (https://...)")
	f.StringVar(&c.CertificateAuthority, "ca", "", "cluster CA bundle, base64 PEM as EKS reports it")
	f.StringVar(&c.ServiceCIDR, "service-cidr", "", "Kubernetes service IPv4 CIDR, e.g. 172.20.0.0/16")
	f.StringArrayVar(&types, "instance-type", nil, "EC2 instance type of the node group (repeatable; the minimum max pods wins)")
	addMaxPodsFlags(cmd, &o, &limits)
	f.StringVar(&cni, "cni", string(userdata.CNIAgent), "pod networking: agent (eksnet-agent) or aws-vpc-cni")
	f.StringVar(&agentURL, "agent-url", "", "node bundle URL, as eksnet bundle writes it (https:// or s3://; {arch} becomes amd64/arm64)")
	f.StringArrayVar(&agentSums, "agent-sha256", nil, "node bundle SHA-256 as ARCH=HEX, or HEX for amd64 (repeatable; eksnet bundle prints them)")
	f.IntVar(&c.Agent.WarmIPTarget, "warm-ip-target", 0, "agent: free addresses to keep (0: agent default)")
	f.IntVar(&c.Agent.MinimumIPTarget, "minimum-ip-target", 0, "agent: addresses to hold in total (0: agent default)")
	f.IntVar(&c.Agent.WarmPrefixTarget, "warm-prefix-target", 0, "agent: free /28 prefixes to keep (0: agent default)")
	f.IntVar(&c.Agent.WarmENITarget, "warm-eni-target", 0, "agent: whole free ENIs to keep when no IP target is set (0: agent default)")
	f.BoolVar(&c.Agent.ExternalSNAT, "external-snat", false, "agent: do not SNAT pod traffic leaving the VPC (a NAT device does)")
	f.StringArrayVar(&c.Agent.SNATExcludeCIDRs, "snat-exclude-cidr", nil, "agent: destination CIDR outside the VPC that must see pod IPs (repeatable)")
	f.StringArrayVar(&labels, "node-label", nil, "KEY=VALUE label kubelet registers the node with (repeatable; eksnet.io/cni is always set)")
	f.BoolVar(&b64, "base64", false, "print base64, as EC2 launch templates take user data")
	_ = cmd.RegisterFlagCompletionFunc("instance-type", completeInstanceTypes)
	_ = cmd.RegisterFlagCompletionFunc("os", cobra.FixedCompletions([]string{"al2023", "al2", "bottlerocket"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("cni", cobra.FixedCompletions([]string{"agent", "aws-vpc-cni"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// agentFlags configure the eksnet agent; with the AWS VPC CNI nothing
// reads them, so giving one is a mistake, not a no-op.
var agentFlags = []string{"agent-url", "agent-sha256", "warm-ip-target", "minimum-ip-target", "warm-prefix-target", "warm-eni-target", "external-snat", "snat-exclude-cidr"}

// agentOnlyFlags refuses agent flags given with --cni aws-vpc-cni.
func agentOnlyFlags(cmd *cobra.Command, cni string) error {
	if userdata.CNI(cni) != userdata.CNIAWSVPC {
		return nil
	}
	var set []string
	for _, name := range agentFlags {
		if cmd.Flags().Changed(name) {
			set = append(set, "--"+name)
		}
	}
	if len(set) == 0 {
		return nil
	}
	return cli.Usagef("%s: configure the eksnet agent, which --cni aws-vpc-cni does not run; drop them, or use --cni agent (the AWS VPC CNI takes its warm targets and SNAT settings as aws-node environment variables: WARM_IP_TARGET, AWS_VPC_K8S_CNI_EXTERNALSNAT, ...)", strings.Join(set, ", "))
}

// userDataFlagError rewrites a userdata.FieldError to name the flag.
func userDataFlagError(err error) error {
	var fe *userdata.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	field := fe.Field
	if i := strings.IndexByte(field, '['); i >= 0 {
		field = field[:i]
	}
	if flag, ok := userDataFlags[field]; ok {
		return cli.Usagef("%s: %w", flag, err)
	}
	return err
}

// parseNodeLabels reads repeated --node-label KEY=VALUE flags; the label
// syntax itself is checked by userdata.Config.Validate.
func parseNodeLabels(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	labels := make(map[string]string, len(flags))
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, cli.Usagef("--node-label %q: want KEY=VALUE, e.g. --node-label team=payments", f)
		}
		if _, dup := labels[k]; dup {
			return nil, cli.Usagef("--node-label %q: label %s given twice", f, k)
		}
		labels[k] = v
	}
	return labels, nil
}
