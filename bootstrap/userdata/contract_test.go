package userdata

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	agentconfig "github.com/eksnet/eksnet/cni-agent/config"
)

// TestAgentEnvIsReadByTheAgent feeds the agent.env that user data writes to
// the agent's own file reader and validator, so a renamed variable or a value
// format the agent rejects fails here rather than on a booting node.
func TestAgentEnvIsReadByTheAgent(t *testing.T) {
	for _, pd := range []bool{false, true} {
		c := baseConfig(t, OSAL2023, CNIAgent, pd)
		c.Agent.MaxENI = 2
		c.Agent.WarmENITarget = 3
		c.Agent.HostNetworkDaemonSets = 2
		c.Agent.ExternalSNAT = pd
		c.Agent.SNATExcludeCIDRs = []string{"192.168.0.0/16", "10.200.0.0/16"}
		raw, err := agentconfig.ReadFile(strings.NewReader(strings.Join(AgentEnv(c), "\n")+"\n"), AgentEnvFile)
		if err != nil {
			t.Fatalf("pd=%v: agent cannot read agent.env: %v", pd, err)
		}
		got, err := agentconfig.Parse(raw)
		if err != nil {
			t.Fatalf("pd=%v: agent rejects agent.env: %v", pd, err)
		}
		wantMode := agentconfig.ModeSecondary
		if pd {
			wantMode = agentconfig.ModePrefix
		}
		wantCIDRs := []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("10.200.0.0/16")}
		if got.Cluster != c.ClusterName || got.Mode != wantMode || got.MaxPods != c.MaxPods || got.MaxENI != 2 ||
			got.WarmIPTarget != c.Agent.WarmIPTarget || got.MinimumIPTarget != c.Agent.MinimumIPTarget ||
			got.ExternalSNAT != pd || !slices.Equal(got.SNATExcludeCIDRs, wantCIDRs) {
			t.Errorf("pd=%v: agent read %+v from %q", pd, got, AgentEnv(c))
		}
		if pd && got.WarmPrefixTarget != c.Agent.WarmPrefixTarget {
			t.Errorf("warm prefix target = %d, want %d", got.WarmPrefixTarget, c.Agent.WarmPrefixTarget)
		}
		if got.HostNetworkDaemonSets != 2 {
			t.Errorf("pd=%v: host-network DaemonSets = %d, want 2", pd, got.HostNetworkDaemonSets)
		}
		if got.WarmENITarget != 3 {
			t.Errorf("pd=%v: warm ENI target = %d, want 3", pd, got.WarmENITarget)
		}
	}
}
