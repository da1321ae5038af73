package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestParseDefaults(t *testing.T) {
	c, err := Parse(map[string]string{"EKSNET_CLUSTER": "demo"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeSecondary || c.WarmENITarget != 1 || c.WarmPrefixTarget != 1 || c.MTU != 9001 ||
		c.Cooldown != 30*time.Second || c.SocketPath != "/run/eksnet/agent.sock" || c.IMDSEndpoint != "http://169.254.169.254" || c.EC2Endpoint != "" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestParseErrorsNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		env, value string
		want       []string
	}{
		{"EKSNET_CLUSTER", "", []string{"--cluster (EKSNET_CLUSTER)", "is empty", "accepted: a non-empty"}},
		{"EKSNET_MODE", "pd", []string{"--mode (EKSNET_MODE)", `"pd"`, "accepted: secondary or prefix"}},
		{"EKSNET_WARM_IP_TARGET", "-1", []string{"--warm-ip-target (EKSNET_WARM_IP_TARGET)", "out of range"}},
		{"EKSNET_MINIMUM_IP_TARGET", "x", []string{"--minimum-ip-target", "not an integer"}},
		{"EKSNET_MAX_ENI", "two", []string{"--max-eni (EKSNET_MAX_ENI)"}},
		{"EKSNET_MAX_PODS", "-3", []string{"--max-pods (EKSNET_MAX_PODS)"}},
		{"EKSNET_HOST_NETWORK_DAEMONSETS", "-1", []string{"--host-network-daemonsets (EKSNET_HOST_NETWORK_DAEMONSETS)", "out of range", "accepted: an integer from 0 to 248"}},
		{"EKSNET_HOST_NETWORK_DAEMONSETS", "249", []string{"--host-network-daemonsets (EKSNET_HOST_NETWORK_DAEMONSETS)", "out of range"}},
		{"EKSNET_EXTERNAL_SNAT", "yes", []string{"--external-snat", "true or false"}},
		{"EKSNET_SNAT_EXCLUDE_CIDRS", "10.0.0.0/8,nope", []string{"--snat-exclude-cidrs", `"nope"`}},
		{"EKSNET_SNAT_EXCLUDE_CIDRS", "fd00::/8", []string{"not an IPv4 CIDR"}},
		{"EKSNET_VETH_PREFIX", "eth", []string{"--veth-prefix", "collides"}},
		{"EKSNET_VETH_PREFIX", "toolong", []string{"--veth-prefix", "1 to 4"}},
		{"EKSNET_VETH_PREFIX", "1ab", []string{"--veth-prefix", "starting with a letter"}},
		{"EKSNET_MTU", "10000", []string{"--mtu (EKSNET_MTU)", "576 to 9001"}},
		{"EKSNET_CHECKPOINT_PATH", "rel/path", []string{"--checkpoint-path", "absolute"}},
		{"EKSNET_SOCKET_PATH", "agent.sock", []string{"--socket-path"}},
		{"EKSNET_METRICS_ADDR", "localhost", []string{"--metrics-addr", "no port"}},
		{"EKSNET_CNI_CONF_DIR", "etc", []string{"--cni-conf-dir"}},
		{"EKSNET_CNI_BIN_DIR", "opt", []string{"--cni-bin-dir"}},
		{"EKSNET_IMDS_ENDPOINT", "169.254.169.254", []string{"--imds-endpoint", "http"}},
		{"EKSNET_EC2_ENDPOINT", "ftp://x", []string{"--ec2-endpoint (EKSNET_EC2_ENDPOINT)"}},
		{"EKSNET_COOLDOWN", "30", []string{"--cooldown (EKSNET_COOLDOWN)", "not a duration"}},
		{"EKSNET_COOLDOWN", "2h", []string{"--cooldown", "out of range"}},
		{"EKSNET_RECONCILE_INTERVAL", "10ms", []string{"--reconcile-interval"}},
		{"EKSNET_WARM_ENI_TARGET", "0", []string{"--warm-eni-target (EKSNET_WARM_ENI_TARGET)", "no free addresses"}},
	} {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			raw := map[string]string{"EKSNET_CLUSTER": "demo", tc.env: tc.value}
			_, err := Parse(raw)
			if err == nil {
				t.Fatalf("%s=%q accepted", tc.env, tc.value)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse(map[string]string{"EKSNET_MODE": "x", "EKSNET_MTU": "1"})
	for _, w := range []string{"EKSNET_CLUSTER", "EKSNET_MODE", "EKSNET_MTU"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not mention %s", err, w)
		}
	}
}

func TestResolvePrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.env")
	content := "# written by user data\nEKSNET_CLUSTER=from-file\nexport EKSNET_MODE=\"prefix\"\nEKSNET_MTU='1500'\nEKSNET_SNAT_EXCLUDE_CIDRS=10.1.0.0/16, 192.168.0.0/24\nPATH=/ignored\n\nEKSNET_WARM_IP_TARGET=3\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse([]string{"--config-file", file, "--warm-ip-target", "7"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"EKSNET_MTU": "8000", "EKSNET_WARM_IP_TARGET": "5"}
	c, err := Resolve(fs, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("192.168.0.0/24")}
	if c.Cluster != "from-file" || c.Mode != ModePrefix || c.MTU != 8000 || c.WarmIPTarget != 7 ||
		len(c.SNATExcludeCIDRs) != 2 || c.SNATExcludeCIDRs[0] != want[0] || c.SNATExcludeCIDRs[1] != want[1] {
		t.Fatalf("resolved %+v", c)
	}
}

func TestReadFileRejects(t *testing.T) {
	for name, content := range map[string]string{
		"typo":      "EKSNET_WARM_IP_TARGT=3\n",
		"no equals": "EKSNET_MODE prefix\n",
	} {
		if _, err := ReadFile(strings.NewReader(content), "agent.env"); err == nil {
			t.Errorf("%s: accepted %q", name, content)
		}
	}
}

func TestResolveMissingExplicitFile(t *testing.T) {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	Flags(fs)
	_ = fs.Parse([]string{"--config-file", filepath.Join(t.TempDir(), "absent.env")})
	if _, err := Resolve(fs, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "--config-file") {
		t.Fatalf("want a --config-file error, got %v", err)
	}
}

// TestCheckEnvironRejectsMisspelledSettings: a setting misspelled in the
// environment is an error naming it and the setting meant, as in agent.env;
// known settings, other tools' EKSNET_* variables and non-EKSNET ones pass.
func TestCheckEnvironRejectsMisspelledSettings(t *testing.T) {
	err := CheckEnviron([]string{"PATH=/bin", "EKSNET_MODE=prefix", "EKSNET_WARM_IP_TARGT=3"})
	if err == nil || !strings.Contains(err.Error(), "EKSNET_WARM_IP_TARGT") || !strings.Contains(err.Error(), "did you mean EKSNET_WARM_IP_TARGET?") {
		t.Fatalf("CheckEnviron with EKSNET_WARM_IP_TARGT: %v, want an error naming it and EKSNET_WARM_IP_TARGET", err)
	}
	if err := CheckEnviron([]string{"EKSNET_MODE=prefix", "EKSNET_SIM_NODE=general-0", "EKSNET_SIM_CACHE=/x", "HOME=/root"}); err != nil {
		t.Fatalf("CheckEnviron with known and other tools' variables: %v, want nil", err)
	}
}
