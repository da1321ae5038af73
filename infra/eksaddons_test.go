package infra_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/infra"
	"github.com/eksnet/eksnet/infra/plan"
	"github.com/eksnet/eksnet/stacks"
)

const tAddon = "aws:eks/addon:Addon"

// TestEKSAddonsPinned: every preset, in both CNI modes, installs vpc-cni
// and kube-proxy (through pulumi-eks) and CoreDNS (our own add-on) at the
// table's version for its Kubernetes version, with OVERWRITE on create and
// PRESERVE on update, pulumi-eks's own CoreDNS off, and CoreDNS after
// every node group.
func TestEKSAddonsPinned(t *testing.T) {
	for _, name := range stacks.PresetNames {
		for _, mode := range []string{stacks.CNIAgent, stacks.CNIAWSVPC} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				cfg := preset(t, name)
				cfg.CNI.Mode = mode
				table := stacks.AddonVersionTable()
				want := func(addon string) string { return table[addon][cfg.KubernetesVersion] }
				_, m := run(t, cfg)
				checkEKSAddons(t, m, want(stacks.AddonVPCCNI), want(stacks.AddonKubeProxy), want(stacks.AddonCoreDNS))
			})
		}
	}
}

// TestEKSAddonOverrides: eksnet:addons.versions.* reach the add-ons, on
// another Kubernetes version too.
func TestEKSAddonOverrides(t *testing.T) {
	cfg := preset(t, stacks.PresetStaging)
	cfg.KubernetesVersion = "1.35"
	cfg.Addons.Versions = stacks.AddonVersions{VPCCNI: "v1.21.2-eksbuild.1", KubeProxy: "v1.35.4-eksbuild.1", CoreDNS: "v1.14.2-eksbuild.4"}
	_, m := run(t, cfg)
	checkEKSAddons(t, m, "v1.21.2-eksbuild.1", "v1.35.4-eksbuild.1", "v1.14.2-eksbuild.4")
}

func checkEKSAddons(t *testing.T, m *plan.Mocks, vpcCni, kubeProxy, coredns string) {
	t.Helper()
	cl := m.ByType(tCluster)[0]
	resolution := func(what string, in map[string]any) {
		t.Helper()
		if c, u := str(in["resolveConflictsOnCreate"]), str(in["resolveConflictsOnUpdate"]); c != "OVERWRITE" || u != "PRESERVE" {
			t.Errorf("%s: resolveConflictsOnCreate %q, onUpdate %q; want OVERWRITE (adopt EKS's bootstrap copy) and PRESERVE (never reset user changes)", what, c, u)
		}
	}
	vc := obj(cl.Inputs["vpcCniOptions"])
	if str(vc["addonVersion"]) != vpcCni {
		t.Errorf("vpc-cni: addonVersion %v, want %s", vc["addonVersion"], vpcCni)
	}
	resolution("vpc-cni (pulumi-eks vpcCniOptions)", vc)
	kp := obj(cl.Inputs["kubeProxyAddonOptions"])
	if str(kp["version"]) != kubeProxy {
		t.Errorf("kube-proxy: version %v, want %s", kp["version"], kubeProxy)
	}
	resolution("kube-proxy (pulumi-eks kubeProxyAddonOptions)", kp)
	if cd := obj(cl.Inputs["corednsAddonOptions"]); cd["enabled"] != false {
		t.Errorf("pulumi-eks corednsAddonOptions %v: want enabled false (it would create CoreDNS before any node)", cd)
	}

	var ours []string
	for _, a := range m.ByType(tAddon) {
		ours = append(ours, str(a.Inputs["addonName"]))
	}
	if !slices.Contains(ours, stacks.AddonCoreDNS) || slices.Contains(ours, stacks.AddonKubeProxy) || slices.Contains(ours, stacks.AddonVPCCNI) {
		t.Errorf("aws:eks Addon resources %v: want coredns, and no second kube-proxy or vpc-cni beside pulumi-eks's", ours)
	}
	cd := one(t, m, tAddon, "addons-coredns")
	if str(cd.Inputs["addonName"]) != stacks.AddonCoreDNS || str(cd.Inputs["addonVersion"]) != coredns || str(cd.Inputs["clusterName"]) == "" {
		t.Errorf("coredns add-on inputs %v: want addonName coredns, addonVersion %s, the cluster's name", cd.Inputs, coredns)
	}
	resolution("coredns", cd.Inputs)
	groups := m.ByType(tMNG)
	if len(groups) == 0 {
		t.Fatal("no managed node groups registered")
	}
	for _, ng := range groups {
		if !slices.Contains(cd.DependsOn, ng.URN) {
			t.Errorf("coredns add-on does not depend on node group %s: CoreDNS pods need nodes to become ACTIVE (dependsOn %v)", ng.Name, cd.DependsOn)
		}
	}
}

const tStorageClass = "kubernetes:storage.k8s.io/v1:StorageClass"

// TestEKSAddonCapabilities: Pod Identity agent, EBS CSI driver (role via
// Pod Identity, or IRSA without the agent, with AWS's managed policy) and
// its default gp3 StorageClass, and metrics-server; each after the node
// groups, and none when turned off.
func TestEKSAddonCapabilities(t *testing.T) {
	t.Run("pod identity", func(t *testing.T) {
		cfg := preset(t, stacks.PresetDev)
		_, m := run(t, cfg)
		pid := checkCapabilityAddon(t, m, "addons-pod-identity", stacks.AddonPodIdentity)
		checkCapabilityAddon(t, m, "addons-metrics-server", stacks.AddonMetricsServer)
		ebs := checkCapabilityAddon(t, m, "addons-ebs-csi", stacks.AddonEBSCSI)
		role := one(t, m, tRole, "addons-ebs-csi")
		doc := policy(t, str(role.Inputs["assumeRolePolicy"]))
		if len(doc.Statement) != 1 || doc.Statement[0].Principal["Service"] != "pods.eks.amazonaws.com" ||
			!slices.Equal(doc.Statement[0].Action, []string{"sts:AssumeRole", "sts:TagSession"}) {
			t.Errorf("EBS CSI role trust %+v: want pods.eks.amazonaws.com with sts:AssumeRole and sts:TagSession (EKS Pod Identity)", doc.Statement)
		}
		assoc, _ := ebs.Inputs["podIdentityAssociations"].([]any)
		if len(assoc) != 1 || str(obj(assoc[0])["serviceAccount"]) != infra.EBSCSIServiceAccount || !strings.HasPrefix(str(obj(assoc[0])["roleArn"]), "arn:aws:iam::") {
			t.Errorf("EBS CSI podIdentityAssociations %v: want one for %s with the role's ARN", ebs.Inputs["podIdentityAssociations"], infra.EBSCSIServiceAccount)
		}
		if ebs.Inputs["serviceAccountRoleArn"] != nil {
			t.Errorf("EBS CSI has an IRSA role (%v) beside its Pod Identity association", ebs.Inputs["serviceAccountRoleArn"])
		}
		if !slices.Contains(ebs.DependsOn, pid.URN) {
			t.Errorf("EBS CSI add-on does not wait for the Pod Identity agent, which serves its credentials")
		}
		checkEBSPolicyAndClass(t, m, ebs)
	})
	t.Run("irsa", func(t *testing.T) {
		cfg := preset(t, stacks.PresetProd)
		cfg.Addons.PodIdentity = false
		_, m := run(t, cfg)
		for _, a := range m.ByType(tAddon) {
			if str(a.Inputs["addonName"]) == stacks.AddonPodIdentity {
				t.Errorf("Pod Identity agent installed with podIdentity false")
			}
		}
		ebs := checkCapabilityAddon(t, m, "addons-ebs-csi", stacks.AddonEBSCSI)
		role := one(t, m, tRole, "addons-ebs-csi")
		doc := policy(t, str(role.Inputs["assumeRolePolicy"]))
		s := doc.Statement[0]
		fed := s.Principal["Federated"]
		if !strings.Contains(fed, ":oidc-provider/") || !slices.Equal(s.Action, []string{"sts:AssumeRoleWithWebIdentity"}) {
			t.Fatalf("EBS CSI IRSA trust principal %v action %v", s.Principal, s.Action)
		}
		issuer := strings.SplitN(fed, ":oidc-provider/", 2)[1]
		if eq := s.Condition["StringEquals"]; eq[issuer+":sub"] != "system:serviceaccount:kube-system:ebs-csi-controller-sa" || eq[issuer+":aud"] != "sts.amazonaws.com" {
			t.Errorf("EBS CSI IRSA trust %v not bound to the controller's service account", s.Condition)
		}
		if !strings.HasPrefix(str(ebs.Inputs["serviceAccountRoleArn"]), "arn:aws:iam::") || ebs.Inputs["podIdentityAssociations"] != nil {
			t.Errorf("EBS CSI without Pod Identity: serviceAccountRoleArn %v, podIdentityAssociations %v", ebs.Inputs["serviceAccountRoleArn"], ebs.Inputs["podIdentityAssociations"])
		}
		checkEBSPolicyAndClass(t, m, ebs)
		checkLBCTrust(t, cfg, m)
	})
	t.Run("off", func(t *testing.T) {
		cfg := preset(t, stacks.PresetStaging)
		cfg.Addons.PodIdentity, cfg.Addons.EBSCSIDriver, cfg.Addons.MetricsServer = false, false, false
		_, m := run(t, cfg)
		var names []string
		for _, a := range m.ByType(tAddon) {
			names = append(names, str(a.Inputs["addonName"]))
		}
		if !slices.Equal(names, []string{stacks.AddonCoreDNS}) || len(m.ByType(tStorageClass)) != 0 {
			t.Errorf("capabilities off: add-ons %v, %d StorageClasses; want coredns alone", names, len(m.ByType(tStorageClass)))
		}
	})
}

// checkCapabilityAddon checks an add-on without a table version: no
// version asked for (EKS's default at creation), the stack's conflict
// resolution, after every node group.
func checkCapabilityAddon(t *testing.T, m *plan.Mocks, name, addon string) plan.Registration {
	t.Helper()
	r := one(t, m, tAddon, name)
	if str(r.Inputs["addonName"]) != addon || r.Inputs["addonVersion"] != nil {
		t.Errorf("%s: addonName %v addonVersion %v; want %s at EKS's default", name, r.Inputs["addonName"], r.Inputs["addonVersion"], addon)
	}
	if str(r.Inputs["resolveConflictsOnCreate"]) != "OVERWRITE" || str(r.Inputs["resolveConflictsOnUpdate"]) != "PRESERVE" {
		t.Errorf("%s: conflicts %v / %v", name, r.Inputs["resolveConflictsOnCreate"], r.Inputs["resolveConflictsOnUpdate"])
	}
	for _, ng := range m.ByType(tMNG) {
		if !slices.Contains(r.DependsOn, ng.URN) {
			t.Errorf("%s does not depend on node group %s", name, ng.Name)
		}
	}
	return r
}

func checkEBSPolicyAndClass(t *testing.T, m *plan.Mocks, ebs plan.Registration) {
	t.Helper()
	att := one(t, m, tAttach, "addons-ebs-csi")
	// AWS's own managed policy, spelled out: the judge is AWS's ARN, not our constant.
	if got := str(att.Inputs["policyArn"]); got != "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy" {
		t.Errorf("EBS CSI role policy %q, want AWS's managed arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy", got)
	}
	sc := one(t, m, tStorageClass, "addons-gp3")
	meta := obj(sc.Inputs["metadata"])
	params := obj(sc.Inputs["parameters"])
	if str(meta["name"]) != "gp3" || str(obj(meta["annotations"])["storageclass.kubernetes.io/is-default-class"]) != "true" ||
		str(sc.Inputs["provisioner"]) != "ebs.csi.aws.com" || str(params["type"]) != "gp3" || str(params["encrypted"]) != "true" ||
		str(sc.Inputs["volumeBindingMode"]) != "WaitForFirstConsumer" {
		t.Errorf("StorageClass inputs %v: want gp3, the cluster default, ebs.csi.aws.com, encrypted, WaitForFirstConsumer", sc.Inputs)
	}
	if !slices.Contains(sc.DependsOn, ebs.URN) {
		t.Errorf("gp3 StorageClass does not wait for the EBS CSI add-on")
	}
}
