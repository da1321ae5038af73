package plan

import (
	"fmt"
	"slices"

	"github.com/eksnet/eksnet/stacks"
)

// Addon is one EKS add-on as registered: its version, where the version
// came from and how it resolves conflicts.
type Addon struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Source is "table" (the EKS User Guide's version for the stack's
	// Kubernetes version), "override" (set at Key) or "eks-default" (no
	// version asked: EKS's default at creation, Version empty).
	Source string `json:"source"`
	Key    string `json:"key"`
	// Via is what creates it: pulumi-eks's cluster component, or the
	// stack's own aws:eks Addon resource.
	Via             string `json:"via"`
	ResolveOnCreate string `json:"resolveConflictsOnCreate"`
	ResolveOnUpdate string `json:"resolveConflictsOnUpdate"`
	AfterNodeGroups bool   `json:"afterNodeGroups"`
}

// addons reads every EKS add-on back from what was registered and checks
// the version is the one the config resolves to.
func addons(cfg stacks.Config, regs []Registration) ([]Addon, error) {
	var clusterInputs map[string]any
	for _, r := range regs {
		if r.Type == "eks:index:Cluster" {
			clusterInputs = r.Inputs
		}
	}
	var groups []string
	registered := map[string]Registration{} // aws:eks Addon by add-on name
	for _, r := range regs {
		switch r.Type {
		case "aws:eks/nodeGroup:NodeGroup":
			groups = append(groups, r.URN)
		case "aws:eks/addon:Addon":
			n, _ := r.Inputs["addonName"].(string)
			registered[n] = r
		}
	}
	var out []Addon
	for _, name := range cfg.EKSAddons() {
		av, err := cfg.AddonVersion(name)
		if err != nil {
			return nil, err
		}
		a := Addon{Name: name, Source: av.Source, Key: av.Key}
		switch name {
		case stacks.AddonVPCCNI, stacks.AddonKubeProxy:
			field, version := "vpcCniOptions", "addonVersion"
			if name == stacks.AddonKubeProxy {
				field, version = "kubeProxyAddonOptions", "version"
			}
			o := mapOf(clusterInputs[field])
			a.Via = "pulumi-eks cluster (" + field + ")"
			a.Version, _ = o[version].(string)
			a.ResolveOnCreate, _ = o["resolveConflictsOnCreate"].(string)
			a.ResolveOnUpdate, _ = o["resolveConflictsOnUpdate"].(string)
		default:
			r, ok := registered[name]
			if !ok {
				return nil, fmt.Errorf("plan: EKS add-on %s was not registered", name)
			}
			a.Via = "aws:eks/addon:Addon " + r.Name
			a.Version, _ = r.Inputs["addonVersion"].(string)
			a.ResolveOnCreate, _ = r.Inputs["resolveConflictsOnCreate"].(string)
			a.ResolveOnUpdate, _ = r.Inputs["resolveConflictsOnUpdate"].(string)
			a.AfterNodeGroups = len(groups) > 0
			for _, g := range groups {
				if !slices.Contains(r.DependsOn, g) {
					a.AfterNodeGroups = false
				}
			}
		}
		if a.Version != av.Version {
			return nil, fmt.Errorf("plan: EKS add-on %s registered at version %q, the config resolves %s", name, a.Version, av.Version)
		}
		out = append(out, a)
	}
	return out, nil
}

// writeAddons prints the EKS add-on versions and their sources.
func writeAddons(ew *errWriter, p *Plan) {
	ew.printf("\nEKS add-ons (conflicts: OVERWRITE on create adopts EKS's bootstrap copy, PRESERVE on update keeps your changes):\n")
	for _, a := range p.Addons {
		src := "table: the EKS User Guide's version for Kubernetes " + p.KubernetesVersion + "; override with " + a.Key
		version := a.Version
		switch a.Source {
		case stacks.AddonSourceOverride:
			src = "override: " + a.Key
		case stacks.AddonSourceEKSDefault:
			version = "EKS default"
			src = "EKS installs its default for Kubernetes " + p.KubernetesVersion + " at creation and no update moves it; pin with " + a.Key
		}
		after := ""
		if a.AfterNodeGroups {
			after = ", after the node groups"
		}
		ew.printf("  %s %s (%s) via %s, on create %s, on update %s%s\n", a.Name, version, src, a.Via, a.ResolveOnCreate, a.ResolveOnUpdate, after)
	}
}
