package plan

import (
	"slices"
	"strings"
	"testing"
)

// TestPlanShowsLimitRangeCoverage: the plan lists, from what was
// registered, `default` and every namespace the stack creates with the
// default LimitRange, and says plainly that namespaces made later get none.
func TestPlanShowsLimitRangeCoverage(t *testing.T) {
	p := mustRun(t, "dev")
	var got []string
	for _, lr := range p.LimitRanges {
		got = append(got, lr.Namespace)
		if lr.DefaultRequest != "cpu=100m,memory=128Mi" || lr.Default != "cpu=500m,memory=512Mi" {
			t.Errorf("limit range in %s: requests %s, limits %s", lr.Namespace, lr.DefaultRequest, lr.Default)
		}
	}
	if want := []string{"apps", "default", "game-2048"}; !slices.Equal(got, want) {
		t.Errorf("plan LimitRange namespaces %v, want default and every namespace the dev stack creates %v", got, want)
	}
	var created []string
	for _, r := range p.Resources {
		if r.Type == "kubernetes:core/v1:Namespace" {
			created = append(created, mapOf(r.Inputs["metadata"])["name"].(string))
		}
	}
	for _, ns := range append(created, "default") {
		if !slices.Contains(got, ns) {
			t.Errorf("namespace %s has no LimitRange in the plan", ns)
		}
	}
	out := text(t, p)
	for _, want := range []string{"Default LimitRange (container defaults for pods that set none):\n  apps: default-limits, requests cpu=100m,memory=128Mi, limits cpu=500m,memory=512Mi\n",
		"  " + LaterNamespaces + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan text lacks %q", want)
		}
	}
}
