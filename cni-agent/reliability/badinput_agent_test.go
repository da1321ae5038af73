package reliability

import (
	"bytes"
	"context"
	"maps"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/config"
)

// validAgent is a complete, valid agent environment; cases replace one key.
var validAgent = map[string]string{"EKSNET_CLUSTER": "prod", "EKSNET_MODE": "prefix"}

// settingCase is one bad agent setting (env or agent.env) and the exact
// error config.Parse must give.
type settingCase struct {
	name string
	set  map[string]string // over validAgent; "" deletes
	want string
}

var settingCases = []settingCase{
	{"no cluster", map[string]string{"EKSNET_CLUSTER": ""}, "invalid eksnet-agent configuration:\n--cluster (EKSNET_CLUSTER): is empty; accepted: a non-empty EKS cluster name"},
	{"unknown mode", map[string]string{"EKSNET_MODE": "bogus"}, "invalid eksnet-agent configuration:\n--mode (EKSNET_MODE): \"bogus\" is not a mode; accepted: secondary or prefix"},
	{"negative warm ip target", map[string]string{"EKSNET_WARM_IP_TARGET": "-1"}, "invalid eksnet-agent configuration:\n--warm-ip-target (EKSNET_WARM_IP_TARGET): -1 is out of range; accepted: an integer >= 0 (0 = unset)"},
	{"max eni not a number", map[string]string{"EKSNET_MAX_ENI": "abc"}, "invalid eksnet-agent configuration:\n--max-eni (EKSNET_MAX_ENI): \"abc\" is not an integer; accepted: an integer >= 0 (0 = the instance type's limit)"},
	{"mtu too small", map[string]string{"EKSNET_MTU": "100"}, "invalid eksnet-agent configuration:\n--mtu (EKSNET_MTU): 100 is out of range; accepted: an integer from 576 to 9001"},
	{"relative checkpoint path", map[string]string{"EKSNET_CHECKPOINT_PATH": "checkpoint.json"}, "invalid eksnet-agent configuration:\n--checkpoint-path (EKSNET_CHECKPOINT_PATH): \"checkpoint.json\" is not an absolute path; accepted: an absolute file path"},
	{"relative socket path", map[string]string{"EKSNET_SOCKET_PATH": "agent.sock"}, "invalid eksnet-agent configuration:\n--socket-path (EKSNET_SOCKET_PATH): \"agent.sock\" is not an absolute path; accepted: an absolute file path"},
	{"metrics address without port", map[string]string{"EKSNET_METRICS_ADDR": "localhost"}, "invalid eksnet-agent configuration:\n--metrics-addr (EKSNET_METRICS_ADDR): \"localhost\" has no port; accepted: host:port, or empty to disable"},
	{"imds endpoint not http", map[string]string{"EKSNET_IMDS_ENDPOINT": "ftp://169.254.169.254"}, "invalid eksnet-agent configuration:\n--imds-endpoint (EKSNET_IMDS_ENDPOINT): \"ftp://169.254.169.254\" is not an http(s) URL; accepted: an http:// or https:// URL"},
	{"cooldown above an hour", map[string]string{"EKSNET_COOLDOWN": "2h"}, "invalid eksnet-agent configuration:\n--cooldown (EKSNET_COOLDOWN): 2h0m0s is out of range; accepted: a duration from 0s to 1h, e.g. 30s"},
	{"cooldown not a duration", map[string]string{"EKSNET_COOLDOWN": "30"}, "invalid eksnet-agent configuration:\n--cooldown (EKSNET_COOLDOWN): \"30\" is not a duration; accepted: a duration from 0s to 1h, e.g. 30s"},
	{"reconcile interval zero", map[string]string{"EKSNET_RECONCILE_INTERVAL": "0s"}, "invalid eksnet-agent configuration:\n--reconcile-interval (EKSNET_RECONCILE_INTERVAL): 0s is out of range; accepted: a duration from 1s to 1h"},
	{"snat exclusion not a cidr", map[string]string{"EKSNET_SNAT_EXCLUDE_CIDRS": "10.0.0.0/8,192.168.0.0/33"}, "invalid eksnet-agent configuration:\n--snat-exclude-cidrs (EKSNET_SNAT_EXCLUDE_CIDRS): \"192.168.0.0/33\" is not an IPv4 CIDR; accepted: comma-separated IPv4 CIDRs, e.g. 10.1.0.0/16,192.168.0.0/24"},
	{"external snat not a bool", map[string]string{"EKSNET_EXTERNAL_SNAT": "maybe"}, "invalid eksnet-agent configuration:\n--external-snat (EKSNET_EXTERNAL_SNAT): \"maybe\" is not a boolean; accepted: true or false"},
	{"relative plugin source", map[string]string{"EKSNET_CNI_PLUGIN_SOURCE": "eksnet-cni"}, "invalid eksnet-agent configuration:\n--cni-plugin-source (EKSNET_CNI_PLUGIN_SOURCE): \"eksnet-cni\" is not an absolute path; accepted: an absolute file path, or empty for eksnet-cni beside the agent binary"},
	{"prefix mode keeping nothing warm", map[string]string{"EKSNET_WARM_PREFIX_TARGET": "0"}, "invalid eksnet-agent configuration:\n--warm-prefix-target (EKSNET_WARM_PREFIX_TARGET): 0 with no --warm-ip-target or --minimum-ip-target would keep no free addresses; accepted: an integer >= 1, or set EKSNET_WARM_IP_TARGET"},
	{"secondary mode keeping nothing warm", map[string]string{"EKSNET_MODE": "secondary", "EKSNET_WARM_ENI_TARGET": "0"}, "invalid eksnet-agent configuration:\n--warm-eni-target (EKSNET_WARM_ENI_TARGET): 0 with no --warm-ip-target or --minimum-ip-target would keep no free addresses; accepted: an integer >= 1, or set EKSNET_WARM_IP_TARGET"},
	{"instance limits missing the IPs", map[string]string{"EKSNET_INSTANCE_LIMITS": "m9.large=3"}, "invalid eksnet-agent configuration:\n--instance-limits (EKSNET_INSTANCE_LIMITS): instance type limits \"m9.large=3\": got 1 values after '=', want 2 to 4: NAME=ENIS,IPS[,VCPUS[,HYPERVISOR]] (HYPERVISOR: nitro, xen, unknown or metal); accepted: space-separated NAME=ENIS,IPS[,VCPUS[,HYPERVISOR]] (HYPERVISOR: nitro, xen, unknown or metal), or empty"},
	{"two bad settings at once", map[string]string{"EKSNET_MODE": "ipvlan", "EKSNET_MTU": "jumbo"}, "invalid eksnet-agent configuration:\n--mode (EKSNET_MODE): \"ipvlan\" is not a mode; accepted: secondary or prefix\n--mtu (EKSNET_MTU): \"jumbo\" is not an integer; accepted: an integer from 576 to 9001"},
}

// TestBadAgentSettings runs every bad setting through config.Parse, the
// function behind the env, the flags and agent.env: the exact error, a zero
// Config, and the caller's map untouched.
func TestBadAgentSettings(t *testing.T) {
	for _, c := range settingCases {
		t.Run(c.name, func(t *testing.T) {
			raw := maps.Clone(validAgent)
			for k, v := range c.set {
				if v == "" {
					delete(raw, k)
				} else {
					raw[k] = v
				}
			}
			before := maps.Clone(raw)
			cfg, err := config.Parse(raw)
			if err == nil {
				t.Fatalf("accepted %v", c.set)
			}
			if err.Error() != c.want {
				t.Errorf("error:\n got %q\nwant %q", err.Error(), c.want)
			}
			if !reflect.DeepEqual(cfg, config.Config{}) {
				t.Errorf("a rejected configuration came back non-zero: %+v", cfg)
			}
			if !maps.Equal(raw, before) {
				t.Errorf("Parse rewrote its input: %v -> %v", before, raw)
			}
		})
	}
}

// envFileCases are bad agent.env files (what user data writes).
var envFileCases = []struct{ name, file, want string }{
	{"typo in a setting name", "EKSNET_CLUSTER=prod\nEKSNET_MOED=prefix\n", "config file /etc/eksnet/agent.env line 2: unknown setting EKSNET_MOED (accepted: EKSNET_CLUSTER, EKSNET_MODE, EKSNET_WARM_IP_TARGET, EKSNET_MINIMUM_IP_TARGET, EKSNET_WARM_PREFIX_TARGET, EKSNET_WARM_ENI_TARGET, EKSNET_MAX_ENI, EKSNET_MAX_PODS, EKSNET_HOST_NETWORK_DAEMONSETS, EKSNET_INSTANCE_LIMITS, EKSNET_EXTERNAL_SNAT, EKSNET_SNAT_EXCLUDE_CIDRS, EKSNET_VETH_PREFIX, EKSNET_MTU, EKSNET_CHECKPOINT_PATH, EKSNET_SOCKET_PATH, EKSNET_METRICS_ADDR, EKSNET_CNI_CONF_DIR, EKSNET_CNI_BIN_DIR, EKSNET_CNI_PLUGIN_SOURCE, EKSNET_IMDS_ENDPOINT, EKSNET_EC2_ENDPOINT, EKSNET_COOLDOWN, EKSNET_RECONCILE_INTERVAL, EKSNET_ATTACH_AFTER, EKSNET_NETWORKD_DIR)"},
	{"line without =", "EKSNET_CLUSTER=prod\nEKSNET_MODE\n", "config file /etc/eksnet/agent.env line 2: \"EKSNET_MODE\" is not KEY=VALUE"},
	{"unterminated double quote", "EKSNET_CLUSTER=\"prod\\\"\n", "config file /etc/eksnet/agent.env line 1: value of EKSNET_CLUSTER: invalid syntax"},
}

// TestBadAgentEnvFile reads each bad agent.env.
func TestBadAgentEnvFile(t *testing.T) {
	for _, c := range envFileCases {
		t.Run(c.name, func(t *testing.T) {
			vals, err := config.ReadFile(strings.NewReader(c.file), "/etc/eksnet/agent.env")
			if err == nil {
				t.Fatalf("accepted %q as %v", c.file, vals)
			}
			if err.Error() != c.want {
				t.Errorf("error:\n got %q\nwant %q", err.Error(), c.want)
			}
			if vals != nil {
				t.Errorf("a rejected file returned values %v", vals)
			}
		})
	}
}

// cliCase is one eksnet-agent command line that must be refused.
type cliCase struct {
	name string
	args []string
	env  map[string]string
	want string // exact stderr
	// code is the exit status: 2 (bad usage) for all of them today; a
	// case the agent fails at run time would be 1.
	code int
}

var cliCases = []cliCase{
	{"run with unknown mode flag", []string{"run", "--mode=bogus"}, nil, "eksnet-agent: invalid eksnet-agent configuration:\n--mode (EKSNET_MODE): \"bogus\" is not a mode; accepted: secondary or prefix", 2},
	{"run with unknown flag", []string{"run", "--warm-ips=3"}, nil, "eksnet-agent: unknown flag: --warm-ips\nusage: eksnet-agent run [flags] (see `eksnet-agent run --help`)", 2},
	{"run with missing config file", []string{"run", "--config-file=/nonexistent/eksnet/agent.env"}, nil, "eksnet-agent: --config-file: opening /nonexistent/eksnet/agent.env: open /nonexistent/eksnet/agent.env: no such file or directory", 2},
	{"run with a bad env value", []string{"run"}, map[string]string{"EKSNET_WARM_IP_TARGET": "many"}, "eksnet-agent: invalid eksnet-agent configuration:\n--warm-ip-target (EKSNET_WARM_IP_TARGET): \"many\" is not an integer; accepted: an integer >= 0 (0 = unset)", 2},
	{"run with a stray argument", []string{"run", "now"}, nil, "eksnet-agent: unexpected argument \"now\": eksnet-agent run takes no arguments\nusage: eksnet-agent run [flags] (see `eksnet-agent run --help`)", 2},
	{"install with relative bin dir", []string{"install", "--cni-bin-dir=opt/cni/bin"}, nil, "eksnet-agent: invalid eksnet-agent configuration:\n--cni-bin-dir (EKSNET_CNI_BIN_DIR): \"opt/cni/bin\" is not an absolute path; accepted: an absolute directory path", 2},
	{"install with a bad wait", []string{"install", "--wait=soon"}, nil, "eksnet-agent: invalid argument \"soon\" for \"--wait\" flag: time: invalid duration \"soon\"\nusage: eksnet-agent install [flags] (see `eksnet-agent install --help`)", 2},
	{"unknown command", []string{"start"}, nil, "eksnet-agent: unknown command \"start\" for \"eksnet-agent\"; accepted commands are completion, install, run, status, uninstall, version, withdraw\nusage: eksnet-agent [flags] (see `eksnet-agent --help`)", 2},
	{"status with unknown flag", []string{"status", "--yaml"}, nil, "eksnet-agent: unknown flag: --yaml\nusage: eksnet-agent status [flags] (see `eksnet-agent status --help`)", 2},
}

// TestBadAgentCommandLine execs eksnet-agent with each bad command line:
// its exit status (2, bad usage), the exact message, and nothing written where its settings
// point (checkpoint, socket, CNI dirs all live in the test's directory; IMDS
// is a closed loopback port, so nothing reaches the host's network setup).
func TestBadAgentCommandLine(t *testing.T) {
	for _, c := range cliCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{
				"EKSNET_CLUSTER": "prod", "EKSNET_MODE": "prefix",
				"EKSNET_CHECKPOINT_PATH": filepath.Join(dir, "checkpoint.json"), "EKSNET_SOCKET_PATH": filepath.Join(dir, "agent.sock"),
				"EKSNET_CNI_CONF_DIR": filepath.Join(dir, "net.d"), "EKSNET_CNI_BIN_DIR": filepath.Join(dir, "bin"),
				"EKSNET_METRICS_ADDR": "", "EKSNET_IMDS_ENDPOINT": "http://127.0.0.1:1", "EKSNET_EC2_ENDPOINT": "http://127.0.0.1:1",
			}
			maps.Copy(env, c.env)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bins.Agent, c.args...)
			cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir}
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != c.code {
				t.Errorf("exit: %v, want status %d", err, c.code)
			}
			if got := strings.TrimSpace(stderr.String()); got != c.want {
				t.Errorf("stderr:\n got %q\nwant %q", got, c.want)
			}
			assertEmptyDir(t, dir)
		})
	}
}
