package userdata

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// LabelCNI is the node label that says which CNI wires the node's pods. Render
// sets it on every node from the kubelet's first start, so a DaemonSet
// selecting on it (the vpc-cni add-on's aws-node) never lands on an agent node
// in the window before EKS applies the managed node group's labels.
const LabelCNI = "eksnet.io/cni"

var (
	labelNameRE   = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	labelPrefixRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// ValidateNodeLabels applies Kubernetes' label syntax, which also guarantees
// the rendered flags and TOML need no quoting beyond what Render writes.
// Presets call it so a bad label fails before any cloud call.
func ValidateNodeLabels(labels map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if err := validateLabelKey(k); err != nil {
			return &FieldError{"NodeLabels", k, err.Error()}
		}
		if v := labels[k]; v != "" && !labelNameRE.MatchString(v) {
			return &FieldError{"NodeLabels", k + "=" + v, "a label value is empty or up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"}
		}
		if !kubeletMaySet(k) {
			return &FieldError{"NodeLabels", k, "kubelet refuses to set labels under kubernetes.io or k8s.io on its own node (node restriction) except " + strings.Join(kubeletLabels, ", ") + " and the namespaces " + strings.Join(kubeletLabelNamespaces, ", ") + "; use your own prefix (e.g. example.com/role), or set node-role labels from a controller"}
		}
		if k == LabelCNI {
			return &FieldError{"NodeLabels", k, "is set by eksnet from the CNI mode; drop it"}
		}
	}
	return nil
}

// kubeletLabels and kubeletLabelNamespaces are what kubelet may set on its
// own Node under the kubernetes.io and k8s.io namespaces (kubelet v1.34:
// k8s.io/kubelet pkg/apis IsKubeletLabel); any other key there makes
// kubelet exit at start, so the node never joins.
var (
	kubeletLabels = []string{
		"kubernetes.io/hostname", "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
		"failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
		"beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type",
		"kubernetes.io/os", "kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/arch",
	}
	kubeletLabelNamespaces = []string{"kubelet.kubernetes.io", "node.kubernetes.io"}
	restrictedNamespaces   = []string{"kubernetes.io", "k8s.io"}
)

// kubeletMaySet applies kubelet's --node-labels rule to key.
func kubeletMaySet(key string) bool {
	ns, _, found := strings.Cut(key, "/")
	if !found {
		return true
	}
	within := func(namespaces []string) bool {
		return slices.ContainsFunc(namespaces, func(n string) bool { return ns == n || strings.HasSuffix(ns, "."+n) })
	}
	return !within(restrictedNamespaces) || slices.Contains(kubeletLabels, key) || within(kubeletLabelNamespaces)
}

func validateLabelKey(k string) error {
	prefix, name, found := strings.Cut(k, "/")
	if !found {
		prefix, name = "", k
	}
	if found && (len(prefix) > 253 || !labelPrefixRE.MatchString(prefix)) {
		return fmt.Errorf("a label key prefix is a DNS subdomain (lower-case letters, digits, '-' and '.', at most 253 characters)")
	}
	if !labelNameRE.MatchString(name) {
		return fmt.Errorf("a label name is 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
	}
	return nil
}

// nodeLabels is the full label set kubelet registers the node with: the
// caller's labels plus LabelCNI.
func nodeLabels(c Config) map[string]string {
	out := maps.Clone(c.NodeLabels)
	if out == nil {
		out = map[string]string{}
	}
	out[LabelCNI] = string(c.CNI)
	return out
}

// nodeLabelsFlag renders labels as kubelet's --node-labels value, sorted so
// the same Config always renders the same bytes.
func nodeLabelsFlag(labels map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(labels)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + labels[k])
	}
	return "--node-labels=" + b.String()
}
