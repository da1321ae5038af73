package plan

import (
	"context"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/stacks"
)

// TestPlanShowsAddonVersions: the plan reads every EKS add-on's version
// back from what was registered and says where it came from.
func TestPlanShowsAddonVersions(t *testing.T) {
	cfg, err := stacks.Preset(stacks.PresetDev, "dev", "eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addons.Versions.CoreDNS = "v1.14.2-eksbuild.4"
	p, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	table := stacks.AddonVersionTable()
	want := map[string]Addon{
		stacks.AddonVPCCNI:        {Version: table[stacks.AddonVPCCNI]["1.33"], Source: stacks.AddonSourceTable, Via: "pulumi-eks cluster (vpcCniOptions)"},
		stacks.AddonKubeProxy:     {Version: table[stacks.AddonKubeProxy]["1.33"], Source: stacks.AddonSourceTable, Via: "pulumi-eks cluster (kubeProxyAddonOptions)"},
		stacks.AddonCoreDNS:       {Version: "v1.14.2-eksbuild.4", Source: stacks.AddonSourceOverride, Via: "aws:eks/addon:Addon addons-coredns", AfterNodeGroups: true},
		stacks.AddonPodIdentity:   {Source: stacks.AddonSourceEKSDefault, Via: "aws:eks/addon:Addon addons-pod-identity", AfterNodeGroups: true},
		stacks.AddonEBSCSI:        {Source: stacks.AddonSourceEKSDefault, Via: "aws:eks/addon:Addon addons-ebs-csi", AfterNodeGroups: true},
		stacks.AddonMetricsServer: {Source: stacks.AddonSourceEKSDefault, Via: "aws:eks/addon:Addon addons-metrics-server", AfterNodeGroups: true},
	}
	if len(p.Addons) != len(want) {
		t.Fatalf("plan add-ons %+v, want %d", p.Addons, len(want))
	}
	for _, a := range p.Addons {
		w := want[a.Name]
		if a.Version != w.Version || a.Source != w.Source || a.Via != w.Via || a.AfterNodeGroups != w.AfterNodeGroups ||
			a.ResolveOnCreate != "OVERWRITE" || a.ResolveOnUpdate != "PRESERVE" {
			t.Errorf("plan add-on %+v, want %+v with OVERWRITE / PRESERVE", a, w)
		}
	}
	out := text(t, p)
	for _, line := range []string{
		"  coredns v1.14.2-eksbuild.4 (override: eksnet:addons.versions.coredns) via aws:eks/addon:Addon addons-coredns, on create OVERWRITE, on update PRESERVE, after the node groups",
		"  kube-proxy " + table[stacks.AddonKubeProxy]["1.33"] + " (table: the EKS User Guide's version for Kubernetes 1.33; override with eksnet:addons.versions.kubeProxy) via pulumi-eks cluster (kubeProxyAddonOptions)",
		"  aws-ebs-csi-driver EKS default (EKS installs its default for Kubernetes 1.33 at creation and no update moves it; pin with eksnet:addons.versions.ebsCsiDriver)",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("plan text lacks %q:\n%s", line, out)
		}
	}
}
