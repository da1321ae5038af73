package stacks

import (
	"bufio"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// readAddonVersionsTSV parses the copy of AWS's add-on version tables.
func readAddonVersionsTSV(t *testing.T) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "eks-addon-versions", "versions.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]string{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cols := strings.Split(text, "\t")
		if len(cols) != 3 {
			t.Fatalf("versions.tsv line %d: %d columns, want addon, Kubernetes version, add-on version: %q", line, len(cols), text)
		}
		if out[cols[0]] == nil {
			out[cols[0]] = map[string]string{}
		}
		if prev, dup := out[cols[0]][cols[1]]; dup {
			t.Fatalf("versions.tsv line %d: %s %s listed twice (%s, %s)", line, cols[0], cols[1], prev, cols[2])
		}
		out[cols[0]][cols[1]] = cols[2]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAddonVersionTableIsAWSs holds the table the stack installs from to
// the copy of the EKS User Guide's tables, and requires a row for every
// managed add-on and every supported Kubernetes version.
func TestAddonVersionTableIsAWSs(t *testing.T) {
	published := readAddonVersionsTSV(t)
	table := AddonVersionTable()
	if !reflect.DeepEqual(table, published) {
		for _, a := range mapsUnion(table, published) {
			if !maps.Equal(table[a], published[a]) {
				t.Errorf("%s: the stack's table %v, AWS publishes %v", a, table[a], published[a])
			}
		}
	}
	cfg := mustPreset(t, PresetDev)
	for _, addon := range []string{AddonVPCCNI, AddonKubeProxy, AddonCoreDNS} {
		for _, v := range SupportedKubernetesVersions {
			pv, ok := published[addon][v]
			if !ok {
				t.Errorf("%s: no published version for Kubernetes %s in versions.tsv", addon, v)
				continue
			}
			if !addonVersionRE.MatchString(pv) {
				t.Errorf("%s %s: %q is not an EKS add-on version", addon, v, pv)
			}
			cfg.KubernetesVersion = v
			av, err := cfg.AddonVersion(addon)
			if err != nil || av.Version != pv || av.Source != AddonSourceTable {
				t.Errorf("Kubernetes %s: AddonVersion(%s) = %+v, %v; want %s from the table", v, addon, av, err, pv)
			}
		}
	}
}

func mapsUnion(a, b map[string]map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]map[string]string{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// TestAddonVersionOverrides: eksnet:addons.versions.* win over the table,
// reach the Config through the one decoder, and a Kubernetes version the
// table lacks is refused naming the key to set.
func TestAddonVersionOverrides(t *testing.T) {
	cfg, err := Resolve("dev", map[string]string{
		"aws:region":    "us-west-2",
		"eksnet:addons": `{"versions":{"coredns":"v1.14.2-eksbuild.4","kubeProxy":"v1.33.11-eksbuild.1"}}`,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for addon, want := range map[string]AddonVersion{
		AddonCoreDNS:   {Addon: AddonCoreDNS, Version: "v1.14.2-eksbuild.4", Source: AddonSourceOverride, Key: "eksnet:addons.versions.coredns"},
		AddonKubeProxy: {Addon: AddonKubeProxy, Version: "v1.33.11-eksbuild.1", Source: AddonSourceOverride, Key: "eksnet:addons.versions.kubeProxy"},
		AddonVPCCNI:    {Addon: AddonVPCCNI, Version: "v1.21.1-eksbuild.7", Source: AddonSourceTable, Key: "eksnet:addons.versions.vpcCni"},
	} {
		if got, err := cfg.AddonVersion(addon); err != nil || got != want {
			t.Errorf("AddonVersion(%s) = %+v, %v; want %+v", addon, got, err, want)
		}
	}

	cfg.KubernetesVersion = "1.36"
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), `eksnet:addons.versions.vpcCni: not set, and eksnet has no vpc-cni version for Kubernetes "1.36"`) {
		t.Errorf("Kubernetes 1.36 without a vpc-cni override: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "eksnet:addons.versions.coredns: not set") {
		t.Errorf("coredns has an override, yet: %v", err)
	}

	cfg = mustPreset(t, PresetDev)
	cfg.Addons.Versions.CoreDNS = "1.13.2"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `eksnet:addons.versions.coredns "1.13.2": not an EKS add-on version; want the form v1.21.1-eksbuild.7`) {
		t.Errorf("malformed override: %v", err)
	}

	_, err = Resolve("dev", map[string]string{"aws:region": "us-west-2", "eksnet:addons": `{"versions":{"corends":"v1.13.2-eksbuild.4"}}`}, nil)
	if err == nil || !strings.Contains(err.Error(), "eksnet:addons.versions.corends: unknown field; accepted fields here are vpcCni, kubeProxy, coredns") {
		t.Errorf("misspelt override key: %v", err)
	}
}

// TestAddonCapabilities: the presets turn on Pod Identity, the EBS CSI
// driver and metrics-server; their versions are EKS's default at creation
// unless eksnet:addons.versions.* pins one.
func TestAddonCapabilities(t *testing.T) {
	for _, name := range PresetNames {
		cfg := mustPreset(t, name)
		got := cfg.EKSAddons()
		want := []string{AddonVPCCNI, AddonKubeProxy, AddonCoreDNS, AddonPodIdentity, AddonEBSCSI, AddonMetricsServer}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("preset %s: EKS add-ons %v, want %v", name, got, want)
		}
	}
	cfg := mustPreset(t, PresetProd)
	cfg.Addons.PodIdentity, cfg.Addons.MetricsServer = false, false
	if got := cfg.EKSAddons(); !reflect.DeepEqual(got, []string{AddonVPCCNI, AddonKubeProxy, AddonCoreDNS, AddonEBSCSI}) {
		t.Errorf("podIdentity and metricsServer off: %v", got)
	}
	if av, err := cfg.AddonVersion(AddonEBSCSI); err != nil || av.Source != AddonSourceEKSDefault || av.Version != "" || av.Key != "eksnet:addons.versions.ebsCsiDriver" {
		t.Errorf("EBS CSI without override: %+v, %v; want EKS's default, key eksnet:addons.versions.ebsCsiDriver", av, err)
	}
	cfg.Addons.Versions.EBSCSIDriver = "v1.45.0-eksbuild.2"
	if av, err := cfg.AddonVersion(AddonEBSCSI); err != nil || av.Source != AddonSourceOverride || av.Version != "v1.45.0-eksbuild.2" {
		t.Errorf("EBS CSI override: %+v, %v", av, err)
	}
	cfg.Addons.Versions.MetricsServer = "0.7.2"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `eksnet:addons.versions.metricsServer "0.7.2": not an EKS add-on version`) {
		t.Errorf("malformed metricsServer override with the add-on off should still be checked: %v", err)
	}
}
