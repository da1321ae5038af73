package agent_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Bad settings stop the agent at start with an error naming the setting,
// before it touches the node or any endpoint.
func TestBadConfigurationFailsAtStart(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "agent.env")
	if err := os.WriteFile(envFile, []byte("EKSNET_CLUSTER=demo\nEKSNET_WARM_IP_TARGT=3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"no cluster", nil, nil, []string{"--cluster (EKSNET_CLUSTER)", "is empty"}},
		{"bad mode", nil, []string{"EKSNET_CLUSTER=c", "EKSNET_MODE=pd"}, []string{"--mode (EKSNET_MODE)", "secondary or prefix"}},
		{"bad mode flag", []string{"--cluster", "c", "--mode", "ipv6"}, nil, []string{"--mode (EKSNET_MODE)", `"ipv6"`}},
		{"negative warm IP", nil, []string{"EKSNET_CLUSTER=c", "EKSNET_WARM_IP_TARGET=-2"}, []string{"--warm-ip-target (EKSNET_WARM_IP_TARGET)"}},
		{"bad mtu", nil, []string{"EKSNET_CLUSTER=c", "EKSNET_MTU=20000"}, []string{"--mtu (EKSNET_MTU)", "576 to 9001"}},
		{"bad cidr", nil, []string{"EKSNET_CLUSTER=c", "EKSNET_SNAT_EXCLUDE_CIDRS=10.0.0.0/33"}, []string{"--snat-exclude-cidrs (EKSNET_SNAT_EXCLUDE_CIDRS)"}},
		{"bad cooldown", nil, []string{"EKSNET_CLUSTER=c", "EKSNET_COOLDOWN=soon"}, []string{"--cooldown (EKSNET_COOLDOWN)", "duration"}},
		{"bad endpoint", nil, []string{"EKSNET_CLUSTER=c", "EKSNET_IMDS_ENDPOINT=169.254.169.254"}, []string{"--imds-endpoint (EKSNET_IMDS_ENDPOINT)"}},
		{"relative socket", nil, []string{"EKSNET_CLUSTER=c", "EKSNET_SOCKET_PATH=agent.sock"}, []string{"--socket-path (EKSNET_SOCKET_PATH)", "absolute"}},
		{"bad external snat", nil, []string{"EKSNET_CLUSTER=c", "EKSNET_EXTERNAL_SNAT=maybe"}, []string{"--external-snat (EKSNET_EXTERNAL_SNAT)", "true or false"}},
		{"typo in the file", []string{"--config-file", envFile}, nil, []string{"--config-file", "EKSNET_WARM_IP_TARGT"}},
		{"missing file", []string{"--config-file", filepath.Join(dir, "absent.env")}, nil, []string{"--config-file", "absent.env"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, agentBin, append([]string{"run"}, tc.args...)...)
			// A clean environment: no EKSNET_* of the caller leaks in.
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tc.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("agent accepted the configuration:\n%s", out)
			}
			if ctx.Err() != nil {
				t.Fatalf("agent did not fail fast:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
