package plan

import (
	"context"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/internal/stacktest"
	"github.com/eksnet/eksnet/stacks"
)

// TestPlanShowsPublicExposure: a reviewer reads, before up, every surface
// open to the internet and from where, taken from what the program
// registered, and what up would refuse.
func TestPlanShowsPublicExposure(t *testing.T) {
	dev := text(t, mustRun(t, "dev"))
	for _, want := range []string{
		"Kubernetes API endpoint (public): reachable from 0.0.0.0/0 (empty list: the whole internet)",
		"closed: demo ALB (Ingress game-2048/game-2048): not created while eksnet:addons.demoAllowedCidrs is empty",
		"Up refuses until fixed:\n",
		"\n  eksnet:cluster.publicAccessCidrs: empty",
		"\n  eksnet:addons.demoAllowedCidrs: empty",
		"\n  eksnet:addons.demoImage: not set while demoApp is true",
	} {
		if !strings.Contains(dev, want) {
			t.Errorf("dev plan lacks %q:\n%s", want, dev)
		}
	}
	if strings.Contains(dev, "ALB of") {
		t.Errorf("dev plan shows an ALB without demoAllowedCidrs:\n%s", dev)
	}
	devCfg, err := stacks.Preset("dev", "dev", "eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	devCfg = stacktest.Deployable(devCfg)
	devCfg.Addons.DemoAllowedCIDRs = []string{stacks.Open}
	p, err := Run(context.Background(), devCfg)
	if err != nil {
		t.Fatal(err)
	}
	if out := text(t, p); !strings.Contains(out, "ALB of Ingress game-2048/game-2048 (internet-facing): reachable from 0.0.0.0/0\n") ||
		!strings.Contains(out, "Demo app: image "+stacktest.DemoImage) {
		t.Errorf("dev plan with the demo opened on purpose:\n%s", out[strings.Index(out, "Public exposure"):])
	}
	cfg, err := stacks.Preset("prod", "prod", "eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.CNI.Mode = stacks.CNIAWSVPC // no agent bundles to build here
	cfg = stacktest.Deployable(cfg)
	cfg.Cluster.PublicAccessCIDRs = []string{"203.0.113.0/24"}
	if p, err = Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	prod := text(t, p)
	if !strings.Contains(prod, "Kubernetes API endpoint (public): reachable from 203.0.113.0/24") || !strings.Contains(prod, "Up refuses until fixed:\n  nothing") || strings.Contains(prod, "ALB of") {
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
