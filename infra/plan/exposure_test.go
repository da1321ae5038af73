package plan

import (
	"context"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/stacks"
)

// TestPlanShowsPublicExposure: a reviewer reads, before up, every surface
// open to the internet and from where, taken from what the program
// registered, and what up would refuse.
func TestPlanShowsPublicExposure(t *testing.T) {
	dev := text(t, mustRun(t, "dev"))
	for _, want := range []string{
		"Kubernetes API endpoint (public): reachable from 0.0.0.0/0 (empty list: the whole internet)",
		"ALB of Ingress game-2048/game-2048 (internet-facing): reachable from 0.0.0.0/0",
		"up refuses until fixed: eksnet:cluster.publicAccessCidrs: empty",
		"up refuses until fixed: eksnet:addons.demoAllowedCidrs: empty",
	} {
		if !strings.Contains(dev, want) {
			t.Errorf("dev plan lacks %q:\n%s", want, dev)
		}
	}
	cfg, err := stacks.Preset("prod", "prod", "eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cluster.PublicAccessCIDRs = []string{"203.0.113.0/24"}
	p, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	prod := text(t, p)
	if !strings.Contains(prod, "Kubernetes API endpoint (public): reachable from 203.0.113.0/24") || strings.Contains(prod, "up refuses") || strings.Contains(prod, "ALB of") {
		t.Errorf("prod plan exposure:\n%s", prod[strings.Index(prod, "Public exposure"):])
	}
	cfg.Cluster.EndpointPublicAccess, cfg.Cluster.PublicAccessCIDRs, cfg.Cluster.DeployerInVPC = false, nil, true
	if p, err = Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if out := text(t, p); !strings.Contains(out, "none: nothing is reachable from outside the VPC") {
		t.Errorf("private prod plan exposure:\n%s", out[strings.Index(out, "Public exposure"):])
	}
}
