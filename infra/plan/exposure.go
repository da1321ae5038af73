package plan

import (
	"fmt"
	"strings"

	"github.com/eksnet/eksnet/infra"
	"github.com/eksnet/eksnet/stacks"
)

// Exposure is one surface of the stack reachable from outside the VPC, as
// the registered inputs say (not as the config intends).
type Exposure struct {
	What string `json:"what"`
	// From are the CIDRs that may reach it; EKS and the ALB read an empty
	// list as the whole internet.
	From []string `json:"from"`
}

// exposures reads the cluster endpoint and every internet-facing Ingress
// from the registrations; closed lists the surfaces the stack keeps shut
// until configured, refusals what an update would refuse
// (infra.RequireDeployable, the one definition).
func exposures(cfg stacks.Config, regs []Registration) (out []Exposure, closed, refusals []string) {
	alb := false
	for _, r := range regs {
		switch r.Type {
		case "eks:index:Cluster":
			if r.Inputs["endpointPublicAccess"] == true {
				out = append(out, Exposure{What: "Kubernetes API endpoint (public)", From: cidrList(r.Inputs["publicAccessCidrs"])})
			}
		case "kubernetes:networking.k8s.io/v1:Ingress":
			meta := mapOf(r.Inputs["metadata"])
			ann := mapOf(meta["annotations"])
			if ann[infra.AnnotationScheme] != "internet-facing" {
				continue
			}
			alb = true
			var from []string
			if s, _ := ann[infra.AnnotationInboundCIDRs].(string); s != "" {
				from = strings.Split(s, ",")
			}
			out = append(out, Exposure{What: fmt.Sprintf("ALB of Ingress %v/%v (internet-facing)", meta["namespace"], meta["name"]), From: from})
		}
	}
	if cfg.Addons.DemoApp && !alb {
		closed = append(closed, fmt.Sprintf("demo ALB (Ingress %s/game-2048): not created while eksnet:addons.demoAllowedCidrs is empty; set the CIDRs that may reach it to open it to them", infra.DemoNamespace))
	}
	if err := infra.RequireDeployable(cfg); err != nil {
		refusals = strings.Split(err.Error(), "\n")
	}
	return out, closed, refusals
}

func cidrList(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, c := range list {
		if s, ok := c.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }

func fromText(from []string) string {
	if len(from) == 0 {
		return stacks.Open + " (empty list: the whole internet)"
	}
	return strings.Join(from, ", ")
}
