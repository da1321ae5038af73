package plan

import (
	"context"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/stacks"
)

// TestPlanShowsVPCEndpoints: a stack without NAT shows, from what was
// registered, every endpoint private nodes use; one with NAT shows none.
func TestPlanShowsVPCEndpoints(t *testing.T) {
	cfg, err := stacks.Preset(stacks.PresetStaging, "staging", "us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Network.NAT, cfg.Addons.LoadBalancerController = stacks.NATNone, false
	p, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Endpoints) != len(stacks.PrivateEndpoints) {
		t.Fatalf("plan shows %d endpoints, the stack creates %d: %+v", len(p.Endpoints), len(stacks.PrivateEndpoints), p.Endpoints)
	}
	out := text(t, p)
	for _, want := range []string{
		"  VPC endpoints (no NAT: private nodes reach AWS only through these):\n",
		"com.amazonaws.us-west-2.ecr.dkr  Interface, private DNS  image pulls",
		"com.amazonaws.us-west-2.s3       Gateway",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan text lacks %q:\n%s", want, out)
		}
	}
	if p := mustRun(t, "staging"); len(p.Endpoints) != 0 || strings.Contains(text(t, p), "VPC endpoints") {
		t.Errorf("staging with NAT shows endpoints: %+v", p.Endpoints)
	}
}
