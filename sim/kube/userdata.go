package kube

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"gopkg.in/yaml.v3"

	"github.com/eksnet/eksnet/bootstrap/userdata"
)

// NodeSettings is what a node's kubelet gets from its user data, read the
// way the node image's bootstrap reads it: nodeadm's NodeConfig on AL2023
// (kubelet.config merged over nodeadm's KubeletConfiguration, kubelet.flags
// appended to kubelet's command line, the cluster DNS derived from
// cluster.cidr), bootstrap.sh's arguments on AL2, and the TOML settings on
// Bottlerocket.
type NodeSettings struct {
	OS string
	// Config holds the KubeletConfiguration fields user data sets, by
	// their KubeletConfiguration names (maxPods, kubeReserved,
	// clusterDNS, registerWithTaints, ...).
	Config map[string]any
	// Flags are the kubelet flags user data adds (--node-labels=...).
	Flags []string
	// ServiceCIDR is the cluster's service range, when user data says it.
	ServiceCIDR netip.Prefix
}

// MaxPods is the maxPods user data gives kubelet (0 when it sets none).
func (s NodeSettings) MaxPods() int {
	switch v := s.Config["maxPods"].(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	}
	return 0
}

// Labels are the node labels of --node-labels flags.
func (s NodeSettings) Labels() map[string]string {
	out := map[string]string{}
	for _, f := range s.Flags {
		if v, ok := strings.CutPrefix(f, "--node-labels="); ok {
			for _, kv := range strings.Split(v, ",") {
				k, val, _ := strings.Cut(kv, "=")
				out[k] = val
			}
		}
	}
	return out
}

// ReadUserData reads the kubelet settings out of rendered user data for
// os (al2023, al2, bottlerocket).
func ReadUserData(os, ud string) (NodeSettings, error) {
	switch os {
	case "al2023":
		return readNodeConfig(ud)
	case "al2":
		return readBootstrapSh(ud)
	case "bottlerocket":
		return readBottlerocket(ud)
	}
	return NodeSettings{}, fmt.Errorf("user data os %q: accepted values are al2023, al2, bottlerocket", os)
}

// readNodeConfig decodes the NodeConfig part generically, so a kubelet
// setting eksnet writes reaches kubelet even if no Go type here names it.
func readNodeConfig(ud string) (NodeSettings, error) {
	parts, err := userdata.ParseParts(ud)
	if err != nil {
		return NodeSettings{}, fmt.Errorf("reading user data: %w", err)
	}
	for _, p := range parts {
		if p.ContentType != "application/node.eks.aws" {
			continue
		}
		var nc struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Spec       struct {
				Cluster struct {
					CIDR string `yaml:"cidr"`
				} `yaml:"cluster"`
				Kubelet struct {
					Config map[string]any `yaml:"config"`
					Flags  []string       `yaml:"flags"`
				} `yaml:"kubelet"`
			} `yaml:"spec"`
		}
		if err := yaml.Unmarshal([]byte(p.Body), &nc); err != nil {
			return NodeSettings{}, fmt.Errorf("decoding the NodeConfig: %w", err)
		}
		if nc.APIVersion != "node.eks.aws/v1alpha1" || nc.Kind != "NodeConfig" {
			return NodeSettings{}, fmt.Errorf("NodeConfig: apiVersion %q kind %q: want node.eks.aws/v1alpha1 NodeConfig", nc.APIVersion, nc.Kind)
		}
		s := NodeSettings{OS: "al2023", Config: map[string]any{}, Flags: nc.Spec.Kubelet.Flags}
		maps.Copy(s.Config, nc.Spec.Kubelet.Config)
		if nc.Spec.Cluster.CIDR != "" {
			cidr, err := netip.ParsePrefix(nc.Spec.Cluster.CIDR)
			if err != nil {
				return NodeSettings{}, fmt.Errorf("NodeConfig spec.cluster.cidr: %w", err)
			}
			s.ServiceCIDR = cidr
			// nodeadm: the cluster DNS is the service range's tenth address,
			// unless kubelet.config says otherwise.
			if _, ok := s.Config["clusterDNS"]; !ok {
				s.Config["clusterDNS"] = []any{nthAddr(cidr, 10).String()}
			}
		}
		return s, nil
	}
	return NodeSettings{}, fmt.Errorf("user data has no application/node.eks.aws NodeConfig part")
}

// nthAddr is the n-th address of p.
func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	return a
}

var (
	bootstrapRE = regexp.MustCompile(`(?s)/etc/eks/bootstrap\.sh\s+(.*?)(?:\n[^ \t]|\z)`)
	shWordRE    = regexp.MustCompile(`'([^']*)'|"([^"]*)"|(\S+)`)
)

// readBootstrapSh reads bootstrap.sh's arguments as the AL2 AMI's script
// does: --dns-cluster-ip becomes clusterDNS, --kubelet-extra-args are
// kubelet flags (--max-pods, --node-labels, --register-with-taints,
// --kube-reserved).
func readBootstrapSh(ud string) (NodeSettings, error) {
	m := bootstrapRE.FindStringSubmatch(ud)
	if m == nil {
		return NodeSettings{}, fmt.Errorf("user data runs no /etc/eks/bootstrap.sh")
	}
	var args []string
	for _, w := range shWordRE.FindAllStringSubmatch(strings.ReplaceAll(m[1], "\\\n", " "), -1) {
		args = append(args, w[1]+w[2]+w[3])
	}
	s := NodeSettings{OS: "al2", Config: map[string]any{}}
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--dns-cluster-ip":
			if i+1 < len(args) {
				s.Config["clusterDNS"] = []any{args[i+1]}
				i++
			}
		case "--kubelet-extra-args":
			if i+1 < len(args) {
				for _, f := range strings.Fields(args[i+1]) {
					if err := s.kubeletFlag(f); err != nil {
						return NodeSettings{}, err
					}
				}
				i++
			}
		}
	}
	return s, nil
}

// kubeletFlag files an AL2 kubelet flag: the ones KubeletConfiguration
// holds go into Config, the rest stay flags.
func (s *NodeSettings) kubeletFlag(f string) error {
	name, val, _ := strings.Cut(f, "=")
	switch name {
	case "--max-pods":
		n, err := strconv.Atoi(val)
		if err != nil {
			return fmt.Errorf("kubelet flag %s: %w", f, err)
		}
		s.Config["maxPods"] = n
	case "--kube-reserved":
		r := map[string]any{}
		for _, kv := range strings.Split(val, ",") {
			k, v, _ := strings.Cut(kv, "=")
			r[k] = v
		}
		s.Config["kubeReserved"] = r
	case "--register-with-taints":
		s.Config["registerWithTaints"] = taintList(strings.Split(val, ","))
	default:
		s.Flags = append(s.Flags, f)
	}
	return nil
}

// taintList turns "key=value:Effect" strings into KubeletConfiguration's
// registerWithTaints entries.
func taintList(taints []string) []any {
	var out []any
	for _, t := range taints {
		kv, effect, _ := strings.Cut(t, ":")
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, map[string]any{"key": k, "value": v, "effect": effect})
	}
	return out
}

// readBottlerocket reads settings.kubernetes as Bottlerocket's settings
// API renders kubelet's configuration from it.
func readBottlerocket(ud string) (NodeSettings, error) {
	var doc struct {
		Settings struct {
			Kubernetes struct {
				MaxPods      int               `toml:"max-pods"`
				ClusterDNSIP string            `toml:"cluster-dns-ip"`
				KubeReserved map[string]string `toml:"kube-reserved"`
				NodeLabels   map[string]string `toml:"node-labels"`
				NodeTaints   map[string]any    `toml:"node-taints"`
			} `toml:"kubernetes"`
		} `toml:"settings"`
	}
	if _, err := toml.Decode(ud, &doc); err != nil {
		return NodeSettings{}, fmt.Errorf("decoding Bottlerocket settings: %w", err)
	}
	k := doc.Settings.Kubernetes
	s := NodeSettings{OS: "bottlerocket", Config: map[string]any{}}
	if k.MaxPods > 0 {
		s.Config["maxPods"] = k.MaxPods
	}
	if k.ClusterDNSIP != "" {
		s.Config["clusterDNS"] = []any{k.ClusterDNSIP}
	}
	if len(k.KubeReserved) > 0 {
		r := map[string]any{}
		for key, v := range k.KubeReserved {
			r[key] = v
		}
		s.Config["kubeReserved"] = r
	}
	if len(k.NodeLabels) > 0 {
		var kv []string
		for key, v := range k.NodeLabels {
			kv = append(kv, key+"="+v)
		}
		s.Flags = append(s.Flags, "--node-labels="+strings.Join(kv, ","))
	}
	// node-taints: key = "value:Effect" or a list of them.
	var taints []string
	for key, v := range k.NodeTaints {
		switch v := v.(type) {
		case string:
			taints = append(taints, key+"="+v)
		case []any:
			for _, e := range v {
				taints = append(taints, fmt.Sprintf("%s=%v", key, e))
			}
		}
	}
	if len(taints) > 0 {
		s.Config["registerWithTaints"] = taintList(taints)
	}
	return s, nil
}
