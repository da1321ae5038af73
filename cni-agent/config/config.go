// Package config holds the node agent's settings: every one is a flag whose
// default comes from an EKSNET_* environment variable, which in turn may come
// from the KEY=VALUE file user data writes (/etc/eksnet/agent.env).
//
// Precedence, highest first: a flag given on the command line, the process
// environment, the config file, the built-in default. All settings are parsed
// and validated before the agent touches the node, and every problem is
// reported at once, each naming the flag, the variable and the accepted values,
// so a bad launch template fails loudly on the first boot instead of leaving a
// node NotReady for reasons found only in logs.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eksnet/eksnet/bootstrap/maxpods"
)

// Mode is how the agent gets pod addresses from EC2.
type Mode string

// The address modes.
const (
	// ModeSecondary assigns single /32 secondary private IPs to ENIs.
	ModeSecondary Mode = "secondary"
	// ModePrefix assigns /28 prefixes (16 addresses each) to ENIs.
	ModePrefix Mode = "prefix"
)

// Config is the validated agent configuration.
type Config struct {
	Cluster string
	Mode    Mode
	// WarmIPTarget is the number of free addresses to keep; 0 = unset.
	WarmIPTarget int
	// MinimumIPTarget is the number of addresses to hold in total; 0 = unset.
	MinimumIPTarget int
	// WarmPrefixTarget is the number of free /28s to keep in prefix mode.
	WarmPrefixTarget int
	// WarmENITarget is the number of free ENIs' worth of addresses to keep in
	// secondary mode when no IP target is set.
	WarmENITarget int
	// MaxENI caps the ENIs the agent uses; 0 = the instance type's limit.
	MaxENI int
	// MaxPods overrides the computed max pods; 0 = computed from the instance type.
	MaxPods int
	// HostNetworkDaemonSets are the user's host-network DaemonSet pods on
	// this node beyond kube-proxy: each takes a max-pods slot and no address
	// (maxpods.HostNetwork), so the agent serves max pods less kube-proxy and these.
	HostNetworkDaemonSets int
	// InstanceLimits are ENI limits of instance types newer than the
	// embedded table (maxpods.ParseLimits), so such a node can start.
	InstanceLimits   []maxpods.InstanceType
	ExternalSNAT     bool
	SNATExcludeCIDRs []netip.Prefix
	VethPrefix       string
	MTU              int
	CheckpointPath   string
	SocketPath       string
	// MetricsAddr is host:port for /metrics; empty disables the endpoint.
	MetricsAddr string
	CNIConfDir  string
	CNIBinDir   string
	// CNIPluginSource is the eksnet-cni binary to install; empty means the
	// eksnet-cni next to the agent's own executable.
	CNIPluginSource string
	IMDSEndpoint    string
	// EC2Endpoint overrides the regional EC2 endpoint; empty = the SDK's default.
	EC2Endpoint string
	// Cooldown is how long a freed address rests before it is handed out again.
	Cooldown time.Duration
	// ReconcileInterval paces the periodic check against IMDS/EC2 and the
	// leaked-ENI collection.
	ReconcileInterval time.Duration
	// AttachAfter, when set, is a file that must exist before the agent
	// attaches an ENI: on AL2023 nodeadm's run marker, so nodeadm's udev
	// net manager leaves the agent's ENIs unmanaged (docs/node-bootstrap.md).
	AttachAfter string
	// NetworkdDir, when set, is where the agent writes a systemd-networkd
	// file marking each of its ENIs Unmanaged, before attaching it.
	NetworkdDir string
}

// maxHostNetworkDaemonSets leaves one pod address under the largest kubelet
// cap once kube-proxy is counted.
const maxHostNetworkDaemonSets = maxpods.CapLarge - maxpods.AgentHostNetworkPods - 1

// Setting describes one configuration knob: its flag, its variable, its
// default and what values it accepts (used in help and in errors).
type Setting struct {
	Flag     string
	Env      string
	Default  string
	Accepted string
	Usage    string
	apply    func(c *Config, v string) error
}

// settings lists every knob in the order help shows them.
var settings = []Setting{
	{"cluster", "EKSNET_CLUSTER", "", "a non-empty EKS cluster name", "cluster name; tags the ENIs the agent creates",
		func(c *Config, v string) error {
			if v == "" {
				return errors.New("is empty")
			}
			c.Cluster = v
			return nil
		}},
	{"mode", "EKSNET_MODE", "secondary", "secondary or prefix", "secondary: /32 secondary IPs; prefix: /28 prefixes",
		func(c *Config, v string) error {
			switch Mode(v) {
			case ModeSecondary, ModePrefix:
				c.Mode = Mode(v)
				return nil
			}
			return fmt.Errorf("%q is not a mode", v)
		}},
	{"warm-ip-target", "EKSNET_WARM_IP_TARGET", "0", "an integer >= 0 (0 = unset)", "free addresses to keep ready", intInto(func(c *Config) *int { return &c.WarmIPTarget }, 0)},
	{"minimum-ip-target", "EKSNET_MINIMUM_IP_TARGET", "0", "an integer >= 0 (0 = unset)", "addresses to hold in total", intInto(func(c *Config) *int { return &c.MinimumIPTarget }, 0)},
	{"warm-prefix-target", "EKSNET_WARM_PREFIX_TARGET", "1", "an integer >= 0", "free /28 prefixes to keep ready (prefix mode)", intInto(func(c *Config) *int { return &c.WarmPrefixTarget }, 0)},
	{"warm-eni-target", "EKSNET_WARM_ENI_TARGET", "1", "an integer >= 0", "free ENIs' worth of addresses to keep ready (secondary mode, when no IP target is set)", intInto(func(c *Config) *int { return &c.WarmENITarget }, 0)},
	{"max-eni", "EKSNET_MAX_ENI", "0", "an integer >= 0 (0 = the instance type's limit)", "cap on the ENIs used", intInto(func(c *Config) *int { return &c.MaxENI }, 0)},
	{"max-pods", "EKSNET_MAX_PODS", "0", "an integer >= 0 (0 = computed from the instance type)", "max pods override; the agent serves max pods less the host-network pods (kube-proxy and --host-network-daemonsets) addresses", intInto(func(c *Config) *int { return &c.MaxPods }, 0)},
	{"host-network-daemonsets", "EKSNET_HOST_NETWORK_DAEMONSETS", "0", fmt.Sprintf("an integer from 0 to %d", maxHostNetworkDaemonSets), "host-network DaemonSet pods on the node beyond kube-proxy (the node group's hostNetworkDaemonSets): max pods counts them, the agent serves them no address",
		intInto(func(c *Config) *int { return &c.HostNetworkDaemonSets }, 0, maxHostNetworkDaemonSets)},
	{"instance-limits", "EKSNET_INSTANCE_LIMITS", "", "space-separated " + maxpods.LimitsSyntax + ", or empty", "ENI limits of an instance type the embedded table lacks (what --limits gives eksnet userdata)",
		func(c *Config, v string) error {
			c.InstanceLimits = nil
			for _, spec := range strings.Fields(v) {
				it, err := maxpods.ParseLimits(spec)
				if err != nil {
					return err
				}
				c.InstanceLimits = append(c.InstanceLimits, it)
			}
			if len(c.InstanceLimits) == 0 {
				return nil // the usual case: no copy of the table
			}
			// Checked here, so a bad entry fails with the other settings
			// before the agent touches the node.
			_, err := maxpods.Default().With(c.InstanceLimits...)
			return err
		}},
	{"external-snat", "EKSNET_EXTERNAL_SNAT", "false", "true or false", "leave SNAT to a NAT gateway (no node SNAT rules)",
		func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not a boolean", v)
			}
			c.ExternalSNAT = b
			return nil
		}},
	{"snat-exclude-cidrs", "EKSNET_SNAT_EXCLUDE_CIDRS", "", "comma-separated IPv4 CIDRs, e.g. 10.1.0.0/16,192.168.0.0/24", "destinations never SNATed besides the VPC CIDRs",
		func(c *Config, v string) error {
			c.SNATExcludeCIDRs = nil
			for _, s := range strings.Split(v, ",") {
				s = strings.TrimSpace(s)
				if s == "" {
					continue
				}
				p, err := netip.ParsePrefix(s)
				if err != nil || !p.Addr().Is4() {
					return fmt.Errorf("%q is not an IPv4 CIDR", s)
				}
				c.SNATExcludeCIDRs = append(c.SNATExcludeCIDRs, p.Masked())
			}
			return nil
		}},
	{"veth-prefix", "EKSNET_VETH_PREFIX", "eni", "1 to 4 characters of [a-z0-9] starting with a letter, not eth/lo/vlan", "host-side veth name prefix",
		func(c *Config, v string) error {
			if len(v) < 1 || len(v) > 4 {
				return fmt.Errorf("%q has %d characters", v, len(v))
			}
			for i, r := range v {
				if !(r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
					return fmt.Errorf("%q has the character %q at position %d", v, r, i+1)
				}
			}
			switch v {
			case "eth", "lo", "vlan":
				return fmt.Errorf("%q collides with host interface names", v)
			}
			c.VethPrefix = v
			return nil
		}},
	{"mtu", "EKSNET_MTU", "9001", "an integer from 576 to 9001", "MTU of secondary ENIs and pod interfaces", intInto(func(c *Config) *int { return &c.MTU }, 576, 9001)},
	{"checkpoint-path", "EKSNET_CHECKPOINT_PATH", "/var/lib/eksnet/checkpoint.json", "an absolute file path", "where allocations are checkpointed", pathInto(func(c *Config) *string { return &c.CheckpointPath })},
	{"socket-path", "EKSNET_SOCKET_PATH", "/run/eksnet/agent.sock", "an absolute file path", "unix socket the plugin talks to", pathInto(func(c *Config) *string { return &c.SocketPath })},
	{"metrics-addr", "EKSNET_METRICS_ADDR", "127.0.0.1:61678", "host:port, or empty to disable", "Prometheus /metrics listen address",
		func(c *Config, v string) error {
			if v == "" {
				c.MetricsAddr = ""
				return nil
			}
			_, port, err := splitHostPort(v)
			if err != nil {
				return err
			}
			if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
				return fmt.Errorf("%q has no valid port", v)
			}
			c.MetricsAddr = v
			return nil
		}},
	{"cni-conf-dir", "EKSNET_CNI_CONF_DIR", "/etc/cni/net.d", "an absolute directory path", "where the CNI conflist is written once the agent is ready", pathInto(func(c *Config) *string { return &c.CNIConfDir })},
	{"cni-bin-dir", "EKSNET_CNI_BIN_DIR", "/opt/cni/bin", "an absolute directory path", "where the eksnet-cni plugin binary is installed", pathInto(func(c *Config) *string { return &c.CNIBinDir })},
	{"cni-plugin-source", "EKSNET_CNI_PLUGIN_SOURCE", "", "an absolute file path, or empty for eksnet-cni beside the agent binary", "the plugin binary copied into the CNI bin dir",
		optionalPathInto(func(c *Config) *string { return &c.CNIPluginSource })},
	{"imds-endpoint", "EKSNET_IMDS_ENDPOINT", "http://169.254.169.254", "an http:// or https:// URL", "instance metadata service endpoint", urlInto(func(c *Config) *string { return &c.IMDSEndpoint }, false)},
	{"ec2-endpoint", "EKSNET_EC2_ENDPOINT", "", "an http:// or https:// URL, or empty for the regional endpoint", "EC2 API endpoint override", urlInto(func(c *Config) *string { return &c.EC2Endpoint }, true)},
	{"cooldown", "EKSNET_COOLDOWN", "30s", "a duration from 0s to 1h, e.g. 30s", "how long a freed address rests before reuse", durInto(func(c *Config) *time.Duration { return &c.Cooldown }, 0, time.Hour)},
	{"reconcile-interval", "EKSNET_RECONCILE_INTERVAL", "60s", "a duration from 1s to 1h", "period of the IMDS/EC2 reconciliation and leaked-ENI collection", durInto(func(c *Config) *time.Duration { return &c.ReconcileInterval }, time.Second, time.Hour)},
	{"attach-after", "EKSNET_ATTACH_AFTER", "", "an absolute file path, or empty to attach at once", "attach ENIs only once this file exists (AL2023 user data: nodeadm's run marker /run/nodeadm/init)",
		optionalPathInto(func(c *Config) *string { return &c.AttachAfter })},
	{"networkd-dir", "EKSNET_NETWORKD_DIR", "", "an absolute directory path, or empty for none", "where a systemd-networkd file marking each agent ENI Unmanaged is written before it is attached (AL2023 user data: /etc/systemd/network)",
		optionalPathInto(func(c *Config) *string { return &c.NetworkdDir })},
}

// All returns every setting, in the order help shows them.
func All() []Setting { return slices.Clone(settings) }

// Parse builds a Config from raw values keyed by variable name (missing keys
// take the default) and validates it. The error lists every bad setting.
func Parse(raw map[string]string) (Config, error) {
	var c Config
	var errs []error
	for _, s := range settings {
		v, ok := raw[s.Env]
		if !ok {
			v = s.Default
		}
		v = strings.TrimSpace(v)
		if err := s.apply(&c, v); err != nil {
			errs = append(errs, fmt.Errorf("--%s (%s): %w; accepted: %s", s.Flag, s.Env, err, s.Accepted))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("invalid eksnet-agent configuration:\n%w", err)
	}
	if err := c.validateCombinations(); err != nil {
		return Config{}, fmt.Errorf("invalid eksnet-agent configuration:\n%w", err)
	}
	return c, nil
}

// validateCombinations checks settings that are fine alone but not together.
func (c Config) validateCombinations() error {
	var errs []error
	if c.Mode == ModeSecondary && c.WarmIPTarget == 0 && c.MinimumIPTarget == 0 && c.WarmENITarget == 0 {
		errs = append(errs, errors.New("--warm-eni-target (EKSNET_WARM_ENI_TARGET): 0 with no --warm-ip-target or --minimum-ip-target would keep no free addresses; accepted: an integer >= 1, or set EKSNET_WARM_IP_TARGET"))
	}
	if c.Mode == ModePrefix && c.WarmIPTarget == 0 && c.MinimumIPTarget == 0 && c.WarmPrefixTarget == 0 {
		errs = append(errs, errors.New("--warm-prefix-target (EKSNET_WARM_PREFIX_TARGET): 0 with no --warm-ip-target or --minimum-ip-target would keep no free addresses; accepted: an integer >= 1, or set EKSNET_WARM_IP_TARGET"))
	}
	return errors.Join(errs...)
}

func intInto(field func(*Config) *int, lo int, hi ...int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		if n < lo || len(hi) > 0 && n > hi[0] {
			return fmt.Errorf("%d is out of range", n)
		}
		*field(c) = n
		return nil
	}
}

func pathInto(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("%q is not an absolute path", v)
		}
		*field(c) = v
		return nil
	}
}

// optionalPathInto is pathInto that also accepts empty (the feature off).
func optionalPathInto(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" {
			*field(c) = ""
			return nil
		}
		return pathInto(field)(c, v)
	}
}

func urlInto(field func(*Config) *string, optional bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" && optional {
			*field(c) = ""
			return nil
		}
		rest, ok := strings.CutPrefix(v, "http://")
		if !ok {
			rest, ok = strings.CutPrefix(v, "https://")
		}
		if !ok || rest == "" || strings.ContainsAny(rest, " \t") {
			return fmt.Errorf("%q is not an http(s) URL", v)
		}
		*field(c) = strings.TrimRight(v, "/")
		return nil
	}
}

func durInto(field func(*Config) *time.Duration, lo, hi time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration", v)
		}
		if d < lo || d > hi {
			return fmt.Errorf("%s is out of range", d)
		}
		*field(c) = d
		return nil
	}
}

func splitHostPort(v string) (string, string, error) {
	i := strings.LastIndex(v, ":")
	if i < 0 {
		return "", "", fmt.Errorf("%q has no port", v)
	}
	return v[:i], v[i+1:], nil
}
