package stacks

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// EKS add-on names, as the EKS API spells them.
const (
	AddonVPCCNI    = "vpc-cni"
	AddonKubeProxy = "kube-proxy"
	AddonCoreDNS   = "coredns"
	// AddonPodIdentity is the EKS Pod Identity agent (eksnet:addons.podIdentity).
	AddonPodIdentity = "eks-pod-identity-agent"
	// AddonEBSCSI is the Amazon EBS CSI driver (eksnet:addons.ebsCsiDriver).
	AddonEBSCSI = "aws-ebs-csi-driver"
	// AddonMetricsServer is the metrics-server community add-on (eksnet:addons.metricsServer).
	AddonMetricsServer = "metrics-server"
)

// AddonVersions override the add-on versions of the table in
// addonVersionTable, one field per managed add-on.
type AddonVersions struct {
	VPCCNI    string `json:"vpcCni,omitempty"`
	KubeProxy string `json:"kubeProxy,omitempty"`
	CoreDNS   string `json:"coredns,omitempty"`
	// PodIdentityAgent, EBSCSIDriver and MetricsServer have no table: the
	// EKS User Guide publishes no version per Kubernetes version for them.
	// Unset, EKS installs its default version for the cluster's
	// Kubernetes version when the add-on is created, and no update moves
	// it (the stack never asks for a version); set one to pin it.
	PodIdentityAgent string `json:"podIdentityAgent,omitempty"`
	EBSCSIDriver     string `json:"ebsCsiDriver,omitempty"`
	MetricsServer    string `json:"metricsServer,omitempty"`
}

// addonVersionTable is each managed add-on's version per Kubernetes
// minor: the latest version of the Amazon EKS add-on type the EKS User
// Guide lists for it. stacks/testdata/eks-addon-versions/versions.tsv is
// the copy of AWS's tables, with their source, that a test holds this to.
// Pinned, an update never moves an add-on because AWS published a new
// build (pulumi-eks would otherwise ask for the most recent one at every
// update); a user moves it with eksnet:addons.versions.*.
var addonVersionTable = map[string]map[string]string{
	AddonVPCCNI: {
		"1.30": "v1.21.1-eksbuild.7", "1.31": "v1.21.1-eksbuild.7", "1.32": "v1.21.1-eksbuild.7",
		"1.33": "v1.21.1-eksbuild.7", "1.34": "v1.21.1-eksbuild.7", "1.35": "v1.21.1-eksbuild.7",
	},
	AddonKubeProxy: {
		"1.30": "v1.30.14-eksbuild.28", "1.31": "v1.31.14-eksbuild.9", "1.32": "v1.32.13-eksbuild.5",
		"1.33": "v1.33.10-eksbuild.2", "1.34": "v1.34.6-eksbuild.2", "1.35": "v1.35.3-eksbuild.2",
	},
	AddonCoreDNS: {
		"1.30": "v1.11.4-eksbuild.33", "1.31": "v1.11.4-eksbuild.33", "1.32": "v1.11.4-eksbuild.33",
		"1.33": "v1.13.2-eksbuild.4", "1.34": "v1.13.2-eksbuild.4", "1.35": "v1.13.2-eksbuild.4",
	},
}

// AddonVersionTable returns a copy of the table the stack takes add-on
// versions from: add-on name to Kubernetes version to add-on version.
func AddonVersionTable() map[string]map[string]string {
	out := map[string]map[string]string{}
	for a, m := range addonVersionTable {
		out[a] = maps.Clone(m)
	}
	return out
}

// addonVersionRE is the form of an EKS add-on version (v1.21.1-eksbuild.7).
var addonVersionRE = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?-eksbuild\.\d+$`)

// Where an add-on's version came from.
const (
	AddonSourceTable    = "table"
	AddonSourceOverride = "override"
	// AddonSourceEKSDefault: no version is asked for; EKS installs its
	// default for the Kubernetes version at creation and keeps it.
	AddonSourceEKSDefault = "eks-default"
)

// AddonVersion is the version the stack installs of one EKS add-on.
type AddonVersion struct {
	Addon   string `json:"addon"`
	Version string `json:"version"`
	// Source is AddonSourceTable or AddonSourceOverride.
	Source string `json:"source"`
	// Key is the config key that overrides it (eksnet:addons.versions.coredns).
	Key string `json:"key"`
}

// addonKey is the eksnet:addons.versions field of each add-on, and the
// override set there.
func (c Config) addonOverride(addon string) (key, value string) {
	v := c.Addons.Versions
	switch addon {
	case AddonVPCCNI:
		return "vpcCni", v.VPCCNI
	case AddonKubeProxy:
		return "kubeProxy", v.KubeProxy
	case AddonCoreDNS:
		return "coredns", v.CoreDNS
	case AddonPodIdentity:
		return "podIdentityAgent", v.PodIdentityAgent
	case AddonEBSCSI:
		return "ebsCsiDriver", v.EBSCSIDriver
	case AddonMetricsServer:
		return "metricsServer", v.MetricsServer
	}
	return "", ""
}

// allAddons are every add-on the stack can manage.
var allAddons = []string{AddonVPCCNI, AddonKubeProxy, AddonCoreDNS, AddonPodIdentity, AddonEBSCSI, AddonMetricsServer}

// EKSAddons are the EKS add-ons the stack manages, in install order.
// vpc-cni is installed in both CNI modes: in agent mode its affinity keeps
// aws-node off agent nodes (see infra.VpcCniAddonValues), and an add-on
// that exists is pinned like the others.
func (c Config) EKSAddons() []string {
	out := []string{AddonVPCCNI, AddonKubeProxy, AddonCoreDNS}
	for _, o := range []struct {
		on    bool
		addon string
	}{{c.Addons.PodIdentity, AddonPodIdentity}, {c.Addons.EBSCSIDriver, AddonEBSCSI}, {c.Addons.MetricsServer, AddonMetricsServer}} {
		if o.on {
			out = append(out, o.addon)
		}
	}
	return out
}

// AddonVersion resolves the version of an EKS add-on: the override at
// eksnet:addons.versions.<field>, else the table's row for the stack's
// Kubernetes version. Neither is an error naming the key to set.
func (c Config) AddonVersion(addon string) (AddonVersion, error) {
	field, override := c.addonOverride(addon)
	if field == "" {
		return AddonVersion{}, fmt.Errorf("add-on %q: eksnet manages %s", addon, strings.Join(allAddons, ", "))
	}
	av := AddonVersion{Addon: addon, Key: "eksnet:addons.versions." + field}
	if override != "" {
		av.Version, av.Source = override, AddonSourceOverride
		return av, nil
	}
	table, tabled := addonVersionTable[addon]
	if !tabled {
		av.Source = AddonSourceEKSDefault
		return av, nil
	}
	v, ok := table[c.KubernetesVersion]
	if !ok {
		known := slices.Sorted(maps.Keys(addonVersionTable[addon]))
		return AddonVersion{}, fmt.Errorf("%s: not set, and eksnet has no %s version for Kubernetes %q (its table, from the EKS User Guide, covers %s); set it to one `aws eks describe-addon-versions --addon-name %s --kubernetes-version %s` lists, e.g. `eksnet stack set %s addons.versions.%s v1.2.3-eksbuild.1`",
			av.Key, addon, c.KubernetesVersion, strings.Join(known, ", "), addon, c.KubernetesVersion, c.Env, field)
	}
	av.Version, av.Source = v, AddonSourceTable
	return av, nil
}

// validateAddonVersions checks every managed add-on has a version and
// every override (of an add-on on or off) has the form EKS uses.
func (c Config) validateAddonVersions() []error {
	var errs []error
	for _, addon := range c.EKSAddons() {
		if _, err := c.AddonVersion(addon); err != nil {
			errs = append(errs, err)
		}
	}
	for _, addon := range allAddons {
		field, v := c.addonOverride(addon)
		if v != "" && !addonVersionRE.MatchString(v) {
			errs = append(errs, fmt.Errorf("eksnet:addons.versions.%s %q: not an EKS add-on version; want the form v1.21.1-eksbuild.7, as `aws eks describe-addon-versions --addon-name %s` lists", field, v, addon))
		}
	}
	return errs
}
