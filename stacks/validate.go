package stacks

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/eksnet/eksnet/bootstrap/maxpods"
	"github.com/eksnet/eksnet/bootstrap/userdata"
	"github.com/eksnet/eksnet/infra/cidrplan"
	"github.com/eksnet/eksnet/internal/suggest"
)

var (
	clusterNameRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$`)
	adminARNRE    = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)/[\w+=,.@/-]+$`)
	amiRE         = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)
	nodeGroupRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

	natModes      = []string{NATNone, NATSingle, NATPerAZ}
	cniModes      = []string{CNIAgent, CNIAWSVPC}
	capacityTypes = []string{"ON_DEMAND", "SPOT"}
	osNames       = []string{"al2023", "al2", "bottlerocket"}
	taintEffects  = []string{"NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"}
	logTypes      = []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}
)

// Layout returns the subnet layout the stack will create.
func (c Config) Layout() (cidrplan.Layout, error) {
	return cidrplan.Plan(cidrplan.Spec{
		VPCCIDR:           c.Network.VPCCIDR,
		PodCIDR:           c.Network.PodCIDR,
		AZs:               c.AZs(),
		PublicBits:        c.Network.PublicSubnetBits,
		PrivateBits:       c.Network.PrivateSubnetBits,
		PodBits:           c.Network.PodSubnetBits,
		PrefixReservation: c.CNI.PrefixDelegation,
	})
}

// Validate checks the whole configuration before any cloud call and
// returns every problem found, each naming its config key and the accepted
// values, joined with errors.Join.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	oneOf := func(key, v string, accepted []string) {
		if !slices.Contains(accepted, v) {
			bad("%s %q: accepted values are %s", key, v, strings.Join(accepted, ", "))
		}
	}

	oneOf("eksnet:preset", c.Preset, PresetNames)
	switch {
	case c.Region == "":
		bad("aws:region: not set; set it with `eksnet stack new ENV --region R` or `pulumi config set aws:region R` (e.g. us-west-2)")
	default:
		if _, err := LookupRegion(c.Region); err != nil {
			bad("aws:region: %w", err)
		}
	}
	if !clusterNameRE.MatchString(c.ClusterName) {
		bad("eksnet:clusterName %q: must be 1-100 letters, digits, - or _, starting with a letter or digit", c.ClusterName)
	}
	oneOf("eksnet:kubernetesVersion", c.KubernetesVersion, SupportedKubernetesVersions)

	n := c.Network
	vpcOK := checkCIDR(&errs, "eksnet:network.vpcCidr", n.VPCCIDR)
	region, regionOK := regions[c.Region]
	maxAZs := 6
	if regionOK && len(n.AvailabilityZones) == 0 {
		maxAZs = min(maxAZs, len(region.AZs))
	}
	if n.AZCount < 2 && len(n.AvailabilityZones) == 0 {
		bad("eksnet:network.azCount %d: EKS needs subnets in at least 2 availability zones; accepted values are 2 to %d", n.AZCount, maxAZs)
	} else if n.AZCount > maxAZs {
		if regionOK && maxAZs == len(region.AZs) {
			bad("eksnet:network.azCount %d: region %s has %d availability zones (%s); accepted values are 2 to %d", n.AZCount, c.Region, len(region.AZs), strings.Join(region.AZs, ", "), maxAZs)
		} else {
			bad("eksnet:network.azCount %d: accepted values are 2 to %d", n.AZCount, maxAZs)
		}
	}
	seenAZ := map[string]bool{}
	for _, az := range n.AvailabilityZones {
		switch {
		case seenAZ[az]:
			bad("eksnet:network.availabilityZones: %q is listed twice; each zone gets one subnet of each role", az)
		case regionOK && !slices.Contains(region.AZs, az):
			msg := fmt.Sprintf("eksnet:network.availabilityZones: %q is not a zone of region %s", az, c.Region)
			if s := suggest.Closest(az, region.AZs, 2); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, ", ") + "?"
			}
			bad("%s (accepted: %s)", msg, strings.Join(region.AZs, ", "))
		case c.Region != "" && !regionOK && !strings.HasPrefix(az, c.Region):
			bad("eksnet:network.availabilityZones: %q is not in region %s", az, c.Region)
		}
		seenAZ[az] = true
	}
	if len(n.AvailabilityZones) == 1 {
		bad("eksnet:network.availabilityZones: EKS needs at least 2 zones, got %q", n.AvailabilityZones[0])
	}
	oneOf("eksnet:network.nat", n.NAT, natModes)
	if n.NAT == NATNone {
		errs = append(errs, c.validatePrivateOnly()...)
	}
	errs = append(errs, c.validateExistingVPC()...)
	if n.NAT != NATNone && n.PublicSubnetBits == 0 && !c.ExistingVPC() {
		bad("eksnet:network.nat %q: NAT gateways live in public subnets but eksnet:network.publicSubnetBits is 0 (no public subnets); set publicSubnetBits (e.g. 24)", n.NAT)
	}
	podOK := n.PodCIDR == "" || checkCIDR(&errs, "eksnet:network.podCidr", n.PodCIDR)
	svcOK := checkCIDR(&errs, "eksnet:cluster.serviceCidr", c.Cluster.ServiceCIDR)
	overlap := func(ka, a, kb, b string) {
		if o, _ := cidrplan.Overlaps(a, b); o {
			bad("%s %s overlaps %s %s; the ranges must be disjoint", ka, a, kb, b)
		}
	}
	if vpcOK && svcOK {
		overlap("eksnet:cluster.serviceCidr", c.Cluster.ServiceCIDR, "eksnet:network.vpcCidr", n.VPCCIDR)
	}
	if n.PodCIDR != "" && podOK {
		if vpcOK {
			overlap("eksnet:network.podCidr", n.PodCIDR, "eksnet:network.vpcCidr", n.VPCCIDR)
		}
		if svcOK {
			overlap("eksnet:network.podCidr", n.PodCIDR, "eksnet:cluster.serviceCidr", c.Cluster.ServiceCIDR)
		}
	}

	cl := c.Cluster
	if !cl.EndpointPublicAccess && !cl.EndpointPrivateAccess {
		bad("eksnet:cluster: endpointPublicAccess and endpointPrivateAccess are both false; enable at least one")
	}
	for _, cidr := range cl.PublicAccessCIDRs {
		checkCIDR(&errs, "eksnet:cluster.publicAccessCidrs", cidr)
	}
	errs = append(errs, c.validateEndpoint()...)
	if r := cl.KubeconfigRoleARN; r != "" && (!strings.Contains(r, ":role/") || !adminARNRE.MatchString(r)) {
		bad("eksnet:cluster.kubeconfigRoleArn %q: not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)", cl.KubeconfigRoleARN)
	}
	for _, a := range cl.Admins {
		if !adminARNRE.MatchString(a) {
			bad("eksnet:cluster.admins %q: not an IAM role or user ARN (arn:aws:iam::123456789012:role/NAME or :user/NAME)", a)
		}
	}
	for _, cidr := range c.Addons.DemoAllowedCIDRs {
		checkCIDR(&errs, "eksnet:addons.demoAllowedCidrs", cidr)
	}
	if err := checkDemoImage(c.Addons.DemoImage); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.validateAddonVersions()...)
	for _, lt := range cl.LogTypes {
		oneOf("eksnet:cluster.logTypes", lt, logTypes)
	}

	cni := c.CNI
	oneOf("eksnet:cni.mode", cni.Mode, cniModes)
	if cni.Mode == CNIAgent && n.PodCIDR != "" {
		bad("eksnet:network.podCidr %q: %s. Remove podCidr or set eksnet:cni.mode to aws-vpc-cni", n.PodCIDR, userdata.AgentRefusesCustomNetworking)
	}
	for key, v := range map[string]int{"warmIpTarget": cni.WarmIPTarget, "minimumIpTarget": cni.MinimumIPTarget, "warmPrefixTarget": cni.WarmPrefixTarget, "warmEniTarget": cni.WarmENITarget, "maxEni": cni.MaxENI} {
		if v < 0 {
			bad("eksnet:cni.%s %d: must be 0 or more", key, v)
		}
	}
	if cni.Mode == CNIAWSVPC {
		// The node bundles are the agent's: with aws-node nothing installs them.
		for _, f := range []struct{ key, v string }{{"amd64Path", cni.Agent.AMD64Path}, {"arm64Path", cni.Agent.ARM64Path}, {"amd64Sha256", cni.Agent.AMD64SHA256}, {"arm64Sha256", cni.Agent.ARM64SHA256}} {
			if f.v != "" {
				bad("eksnet:cni.agent.%s: set, but eksnet:cni.mode is aws-vpc-cni, which runs no eksnet agent; remove it or set cni.mode to agent", f.key)
			}
		}
	}
	for key, sum := range map[string]string{"amd64Sha256": cni.Agent.AMD64SHA256, "arm64Sha256": cni.Agent.ARM64SHA256} {
		if b, err := hex.DecodeString(sum); sum != "" && (err != nil || len(b) != 32) {
			bad("eksnet:cni.agent.%s %q: must be 64 hex digits (a SHA-256)", key, sum)
		}
	}

	errs = append(errs, c.validateNodeGroups()...)
	if len(errs) == 0 && !c.ExistingVPC() {
		// An existing VPC's subnets are checked by the program, on the
		// CIDRs it looks up (infra.NewNetwork).
		errs = append(errs, c.validateCapacity()...)
	}
	return errors.Join(errs...)
}

func checkCIDR(errs *[]error, key, cidr string) bool {
	p, err := netip.ParsePrefix(cidr)
	switch {
	case err != nil:
		*errs = append(*errs, fmt.Errorf("%s %q: not a CIDR block (e.g. 10.0.0.0/16)", key, cidr))
	case !p.Addr().Is4():
		*errs = append(*errs, fmt.Errorf("%s %q: must be IPv4", key, cidr))
	case p.Masked() != p:
		*errs = append(*errs, fmt.Errorf("%s %q: host bits set, did you mean %s", key, cidr, p.Masked()))
	default:
		return true
	}
	return false
}

func (c Config) validateNodeGroups() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.NodeGroups) == 0 {
		bad("eksnet:nodeGroups: empty; a stack needs at least one node group")
	}
	seen := map[string]bool{}
	for i, ng := range c.NodeGroups {
		key := fmt.Sprintf("eksnet:nodeGroups[%d]", i)
		if !nodeGroupRE.MatchString(ng.Name) {
			bad("%s.name %q: must be 1-32 lower-case letters, digits or -", key, ng.Name)
		}
		if seen[ng.Name] {
			bad("%s.name %q: used by another node group", key, ng.Name)
		}
		seen[ng.Name] = true
		if !slices.Contains(capacityTypes, ng.CapacityType) {
			bad("%s.capacityType %q: accepted values are %s", key, ng.CapacityType, strings.Join(capacityTypes, ", "))
		}
		if !slices.Contains(osNames, ng.OS) {
			bad("%s.os %q: accepted values are %s", key, ng.OS, strings.Join(osNames, ", "))
		}
		if err := AMIPublished(ng.OS, c.KubernetesVersion); err != nil {
			bad("%s.%w", key, err)
		}
		if ng.OS == "bottlerocket" && c.CNI.Mode == CNIAgent {
			bad("%s.os bottlerocket: Bottlerocket runs no user-data shell scripts, so it cannot install the eksnet agent; use al2023 or al2, or eksnet:cni.mode aws-vpc-cni", key)
		}
		if ng.MaxSize < 1 || ng.MinSize < 0 || ng.MinSize > ng.DesiredSize || ng.DesiredSize > ng.MaxSize {
			bad("%s: sizes min %d, desired %d, max %d: need 0 <= minSize <= desiredSize <= maxSize and maxSize >= 1", key, ng.MinSize, ng.DesiredSize, ng.MaxSize)
		}
		if ng.AMIID != "" && !amiRE.MatchString(ng.AMIID) {
			bad("%s.amiId %q: not an AMI ID (ami- and 8 or 17 hex digits)", key, ng.AMIID)
		}
		if ng.DiskSizeGiB < 20 {
			bad("%s.diskSizeGiB %d: must be at least 20", key, ng.DiskSizeGiB)
		}
		if err := userdata.ValidateNodeLabels(ng.Labels); err != nil {
			var fe *userdata.FieldError
			if errors.As(err, &fe) {
				bad("%s.labels %q: %s", key, fe.Value, fe.Reason)
			} else {
				bad("%s.labels: %v", key, err)
			}
		}
		for _, t := range ng.Taints {
			if !slices.Contains(taintEffects, t.Effect) {
				bad("%s.taints %q: effect %q: accepted values are %s", key, t.Key, t.Effect, strings.Join(taintEffects, ", "))
			}
		}
		if err := userdata.ValidateTaints(ng.KubeletTaints()); err != nil {
			var fe *userdata.FieldError
			if errors.As(err, &fe) && !strings.HasPrefix(fe.Reason, "accepted effects") {
				bad("%s.taints %q: %s", key, fe.Value, fe.Reason)
			}
		}
		if len(ng.InstanceTypes) == 0 {
			bad("%s.instanceTypes: empty; give at least one EC2 instance type (e.g. m5.large)", key)
			continue
		}
		if _, err := groupArch(key+".instanceTypes", ng.InstanceTypes); err != nil {
			errs = append(errs, err)
		}
		for _, it := range ng.InstanceTypes {
			t, err := maxpods.Lookup(it)
			if err != nil {
				bad("%s.instanceTypes: %w", key, err)
				continue
			}
			if c.CNI.PrefixDelegation && !t.SupportsPrefixDelegation() {
				bad("%s.instanceTypes: %s runs on the %s hypervisor, but eksnet:cni.prefixDelegation is true and /28 prefixes need Nitro or bare-metal types; use a Nitro type (e.g. m5.large, t3.medium) or set prefixDelegation to false", key, it, t.Hypervisor)
			}
		}
		if ng.HostNetworkDaemonSets < 0 {
			bad("%s.hostNetworkDaemonSets %d: accepted values are 0 (none beyond %s) or more: the host-network DaemonSet pods you run on every node of the group", key, ng.HostNetworkDaemonSets, c.stackHostNetworkPods())
			continue
		}
		o := c.MaxPodsOptions(ng)
		g, err := maxpods.Default().CalculateGroup(ng.InstanceTypes, o)
		switch {
		case err != nil && errors.Is(err, maxpods.ErrInvalidMaxENI):
			bad("eksnet:cni.maxEni %d with %s: %w", c.CNI.MaxENI, key, err)
		case err == nil && o.PodAddresses(g.MaxPods) < 1:
			// The kubelet cap bounds the total: DaemonSets that fill it
			// leave the node no pod it can give an address.
			base := maxpods.HostNetwork{Agent: o.HostNetwork.Agent}.Pods()
			bad("%s.hostNetworkDaemonSets %d: max pods %d (limited by %s) less %d host-network pods leaves no pod addresses; accepted values are 0 to %d",
				key, ng.HostNetworkDaemonSets, g.MaxPods, g.LimitedBy, o.HostNetwork.Pods(), g.MaxPods-base-1)
		}
	}
	return errs
}

// stackHostNetworkPods names the host-network pods the stack itself runs
// on every node, for errors.
func (c Config) stackHostNetworkPods() string {
	if c.CNI.Mode == CNIAgent {
		return "kube-proxy"
	}
	return "kube-proxy and aws-node"
}

func (c Config) validateCapacity() []error {
	layout, err := c.Layout()
	if err != nil {
		return []error{fmt.Errorf("eksnet:network: %w", err)}
	}
	return c.CheckCapacity(layout)
}

// CheckCapacity returns an error for every subnet of layout too small for
// the node groups when every node is full, naming the key that sizes it:
// the prefix length of a planned subnet, or the ID list an existing
// subnet came from (whose layout the program built from its lookups).
func (c Config) CheckCapacity(layout cidrplan.Layout) []error {
	pods, err := c.NodeGroupPods()
	if err != nil {
		return []error{err}
	}
	caps, err := c.Capacity(layout, pods)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, sc := range caps {
		if sc.Fits {
			continue
		}
		key, fix := "eksnet:network.privateSubnetBits", "use a larger subnet (smaller prefix length) or lower nodeGroups maxSize"
		if sc.Subnet.Role == cidrplan.Pod {
			key = "eksnet:network.podSubnetBits"
		}
		if c.ExistingVPC() {
			key, fix = "eksnet:network.privateSubnetIds", "list larger or more subnets, or lower nodeGroups maxSize"
			if sc.Subnet.Role == cidrplan.Pod {
				key = "eksnet:network.podSubnetIds"
			}
		}
		msg := fmt.Sprintf("%s: subnet %s %s is too small for max nodes x max pods: %d nodes need %d addresses, it has %d",
			key, sc.Subnet.Name, sc.Subnet.CIDR, sc.MaxNodes, sc.AddressesNeeded, sc.Addresses)
		if sc.PrefixesNeeded > 0 {
			msg += fmt.Sprintf(" and %d /28 prefixes, it has room for %d", sc.PrefixesNeeded, sc.PrefixRoom)
		}
		errs = append(errs, errors.New(msg+"; "+fix))
	}
	return errs
}
