package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/sim"
)

func newSimExecCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "exec NAME NODE -- CMD [ARG...]",
		Short: "Run a command inside a node of a simulated VPC, with AWS env set for the fakes",
		Long: `Run CMD in the node's network namespace (ip netns exec) with AWS_REGION, fake static
credentials, AWS_ENDPOINT_URL_EC2, AWS_EC2_METADATA_SERVICE_ENDPOINT, EKSNET_EC2_ENDPOINT and
EKSNET_IMDS_ENDPOINT set, and every other AWS_* variable of the caller removed, so the
real AWS SDK (or the eksnet agent) in the node talks to the simulation's EC2 and IMDS.
eksnet exits with CMD's exit status.`,
		Example: `  eksnet sim exec demo node-0 -- ip addr
  eksnet sim exec demo node-0 -- sh -c 'curl -s -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" $EKSNET_IMDS_ENDPOINT/latest/api/token'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 3 || cmd.ArgsLenAtDash() != 2 {
				return fmt.Errorf("usage: eksnet sim exec NAME NODE -- CMD [ARG...] (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := readSimState(args[0])
			if err != nil {
				return err
			}
			var node *simNodeState
			var names []string
			for i := range st.Nodes {
				names = append(names, st.Nodes[i].Name)
				if st.Nodes[i].Name == args[1] {
					node = &st.Nodes[i]
				}
			}
			if node == nil {
				return fmt.Errorf("node %q: not in simulation %q (nodes: %s)", args[1], args[0], strings.Join(names, ", "))
			}
			c := exec.CommandContext(cmd.Context(), "ip", append([]string{"netns", "exec", node.NetNS}, args[2:]...)...)
			c.Env = sim.CommandEnv(os.Environ(), node.Env)
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, a.stdout, a.stderr
			if err := c.Run(); err != nil {
				return fmt.Errorf("%s in node %s: %w", args[2], node.Name, err)
			}
			return nil
		},
	}
}
