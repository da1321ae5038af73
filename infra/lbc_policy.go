package infra

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

// LBCAppVersion is the controller version chart LBCChartVersion installs
// (the chart's appVersion); the embedded policy is the one published with it.
const LBCAppVersion = "v2.14.0"

// lbcPolicyJSON is the controller's own docs/install/iam_policy.json at
// LBCAppVersion, unchanged. The controller opens the node and cluster
// security groups to its load balancers, tags listeners and rules, and calls
// APIs (SetRulePriorities, ModifyIpPools) that a hand-written policy misses;
// its maintainers keep this file in step with those calls, so we ship it
// as published and move it with the chart.
//
//go:embed lbc_iam_policy.json
var lbcPolicyJSON []byte

// LoadBalancerControllerPolicy is the AWS Load Balancer Controller's
// published IAM policy for LBCAppVersion, with its ARNs moved into the
// given partition (AWS publishes the aws-cn and aws-us-gov variants as the
// same statements with only the partition changed).
func LoadBalancerControllerPolicy(partition string) PolicyDocument {
	var d PolicyDocument
	if err := json.Unmarshal(lbcPolicyJSON, &d); err != nil {
		panic(fmt.Sprintf("infra: embedded load balancer controller policy must parse: %v", err))
	}
	for i, s := range d.Statement {
		for j, r := range s.Resource {
			if rest, ok := strings.CutPrefix(r, "arn:aws:"); ok {
				d.Statement[i].Resource[j] = "arn:" + partition + ":" + rest
			}
		}
	}
	return d
}
