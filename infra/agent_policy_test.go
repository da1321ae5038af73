package infra_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/eksnet/eksnet/cni-agent/cloud"
	"github.com/eksnet/eksnet/infra"
)

// TestAgentPolicyMatchesAgentCalls ties the node policy to the agent's
// code: every EC2 call the agent's client interface lists is allowed, and
// nothing else is (CreateTags aside: it is tag-on-create, implied by
// CreateNetworkInterface with TagSpecifications).
func TestAgentPolicyMatchesAgentCalls(t *testing.T) {
	var calls []string
	api := reflect.TypeFor[cloud.EC2API]()
	for i := range api.NumMethod() {
		calls = append(calls, "ec2:"+api.Method(i).Name)
	}
	var allowed []string
	for _, s := range infra.AgentPolicy("aws", "us-west-2", "c", "vpc-1").Statement {
		allowed = append(allowed, s.Action...)
	}
	for _, c := range calls {
		if !slices.Contains(allowed, c) {
			t.Errorf("the agent calls %s but the node policy does not allow it", c)
		}
	}
	for _, a := range allowed {
		if !slices.Contains(calls, a) && a != "ec2:CreateTags" {
			t.Errorf("the node policy allows %s, which the agent never calls", a)
		}
	}
	if infra.TagCluster != cloud.TagCluster {
		t.Errorf("policy scopes on tag %s, the agent tags ENIs with %s", infra.TagCluster, cloud.TagCluster)
	}
}
