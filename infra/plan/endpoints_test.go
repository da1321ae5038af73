package plan

import (
	"context"
	"slices"
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
	if !strings.Contains(out, "  VPC endpoints (no NAT: private nodes reach AWS only through these):\n") {
		t.Errorf("plan text lacks the VPC endpoints heading:\n%s", out)
	}
	// One line per endpoint: service, type, then what it is for (columns
	// padded to the longest service name, so compare fields).
	for _, want := range [][]string{
		{"com.amazonaws.us-west-2.ecr.dkr", "Interface,", "private", "DNS", "image"},
		{"com.amazonaws.us-west-2.s3", "Gateway"},
	} {
		if !hasLineWithFields(out, want) {
			t.Errorf("plan text has no line starting with the fields %q:\n%s", want, out)
		}
	}
	if p := mustRun(t, "staging"); len(p.Endpoints) != 0 || strings.Contains(text(t, p), "VPC endpoints") {
		t.Errorf("staging with NAT shows endpoints: %+v", p.Endpoints)
	}
}

// hasLineWithFields reports whether a line of out starts with the fields want.
func hasLineWithFields(out string, want []string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(want) && slices.Equal(f[:len(want)], want) {
			return true
		}
	}
	return false
}
