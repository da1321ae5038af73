package stacks

import (
	"errors"
	"fmt"
)

// Open is the CIDR a user writes to open an endpoint or the demo ALB to the
// whole internet on purpose.
const Open = "0.0.0.0/0"

// validateEndpoint checks the API endpoint settings that hold for preview
// and update alike. pulumi up reaches the API server from where it runs
// (the Kubernetes provider applies the in-cluster resources), so a
// private-only endpoint works only when the deployer is inside the VPC.
func (c Config) validateEndpoint() []error {
	var errs []error
	cl := c.Cluster
	if !cl.EndpointPublicAccess && len(cl.PublicAccessCIDRs) > 0 {
		errs = append(errs, fmt.Errorf("eksnet:cluster.publicAccessCidrs %v: endpointPublicAccess is false, so these CIDRs would restrict nothing; remove them or set endpointPublicAccess true", cl.PublicAccessCIDRs))
	}
	if !cl.EndpointPublicAccess && cl.EndpointPrivateAccess && !cl.DeployerInVPC {
		errs = append(errs, errors.New("eksnet:cluster.endpointPublicAccess false: with a private-only endpoint `pulumi up` cannot reach the API server unless it runs inside the VPC (or a network peered with it), and hangs at the first in-cluster resource; set endpointPublicAccess true with publicAccessCidrs, or deployerInVpc true if the deployer does run there"))
	}
	return errs
}

// ValidateExposure is what an update (not a preview or plan) also needs:
// every public surface the stack opens names who may reach it. The
// deployer's address is not knowable offline, so an empty list is
// refused rather than defaulted to the world; 0.0.0.0/0 is accepted when
// written out.
func (c Config) ValidateExposure() error {
	var errs []error
	if c.Cluster.EndpointPublicAccess && len(c.Cluster.PublicAccessCIDRs) == 0 {
		errs = append(errs, fmt.Errorf("eksnet:cluster.publicAccessCidrs: empty, which EKS reads as %s (the API endpoint open to the internet); set the CIDRs that may reach it, e.g. `pulumi config set --path 'eksnet:cluster.publicAccessCidrs[0]' 203.0.113.7/32 -s %s`, or %s to open it on purpose", Open, c.Env, Open))
	}
	if c.Addons.DemoApp && len(c.Addons.DemoAllowedCIDRs) == 0 {
		errs = append(errs, fmt.Errorf("eksnet:addons.demoAllowedCidrs: empty while demoApp is true; the demo's internet-facing ALB would be open to nobody, so name the CIDRs that may reach it, e.g. `pulumi config set --path 'eksnet:addons.demoAllowedCidrs[0]' 203.0.113.7/32 -s %s`, or set demoApp false", c.Env))
	}
	return errors.Join(errs...)
}
