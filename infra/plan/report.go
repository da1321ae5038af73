package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// keyFields are the inputs worth showing per resource type; everything
// else (tags, policies, user data) is in the program and the JSON report's
// dedicated sections.
var keyFields = map[string][]string{
	"aws:ec2/vpc:Vpc": {"cidrBlock"},
	"aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation": {"cidrBlock"},
	"aws:ec2/subnet:Subnet":                               {"cidrBlock", "availabilityZone"},
	"aws:ec2/subnetCidrReservation:SubnetCidrReservation": {"cidrBlock", "reservationType"},
	"aws:ec2/launchTemplate:LaunchTemplate":               {"imageId", "metadataOptions"},
	"aws:eks/nodeGroup:NodeGroup":                         {"instanceTypes", "capacityType", "scalingConfig", "labels"},
	"eks:index:Cluster": {"name", "version", "endpointPublicAccess", "endpointPrivateAccess", "enabledClusterLogTypes",
		"kubernetesServiceIpAddressRange", "encryptionConfigKeyArn", "vpcCniOptions", "publicAccessCidrs", "accessEntries"},
	"aws:kms/key:Key":                                   {"enableKeyRotation"},
	"aws:ec2/vpcEndpoint:VpcEndpoint":                   {"serviceName", "vpcEndpointType", "privateDnsEnabled"},
	"aws:s3/bucketObjectv2:BucketObjectv2":              {"key", "metadata"},
	"kubernetes:helm.sh/v3:Release":                     {"chart", "version", "namespace"},
	"kubernetes:core/v1:Namespace":                      {"metadata"},
	"kubernetes:core/v1:LimitRange":                     {"metadata", "spec"},
	"kubernetes:networking.k8s.io/v1:Ingress":           {"metadata"},
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment": {"policyArn"},
	"aws:eks/addon:Addon":                               {"addonName", "addonVersion"},
	"kubernetes:storage.k8s.io/v1:StorageClass":         {"metadata", "provisioner", "parameters"},
}

func keyInputs(typ string, in map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range keyFields[typ] {
		if v, ok := in[k]; ok && v != nil {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// WriteJSON writes the plan as indented JSON.
func WriteJSON(w io.Writer, p *Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	return nil
}

// WriteText writes the plan for a person: the resource tree, node groups
// with their max pods and reason, and the per-subnet IP capacity.
func WriteText(w io.Writer, p *Plan) error {
	ew := &errWriter{w: w}
	ew.printf("Plan for stack %s (preset %s, %s): cluster %s, Kubernetes %s\n", p.Stack, p.Preset, p.Region, p.ClusterName, p.KubernetesVersion)
	ew.printf("Run under the Pulumi mock engine: no AWS calls were made; IDs and ARNs are placeholders.\n\n")

	ew.printf("Resources (%d):\n", len(p.Resources))
	children := map[string][]Resource{}
	urns := map[string]bool{}
	for _, r := range p.Resources {
		urns[r.URN] = true
	}
	for _, r := range p.Resources {
		parent := r.Parent
		if !urns[parent] {
			parent = ""
		}
		children[parent] = append(children[parent], r)
	}
	for _, c := range children {
		slices.SortFunc(c, func(a, b Resource) int { return strings.Compare(a.Type+" "+a.Name, b.Type+" "+b.Name) })
	}
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, r := range children[parent] {
			flags := ""
			if r.Protect {
				flags += " [protect]"
			}
			if r.Remote {
				flags += " [remote component]"
			}
			ew.printf("%s%s %s%s%s\n", strings.Repeat("  ", depth+1), r.Type, r.Name, flags, formatInputs(r.Inputs))
			walk(r.URN, depth+1)
		}
	}
	walk("", 0)

	ew.printf("\nNetwork: VPC %s", p.VPCCIDR)
	if p.PodCIDR != "" {
		ew.printf(", pod CIDR %s", p.PodCIDR)
	}
	ew.printf(", service CIDR %s, NAT %s\n", p.ServiceCIDR, p.NAT)
	if p.ExistingVPC != "" {
		ew.printf("  %s\n", p.ExistingVPC)
	}
	tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SUBNET\tAZ\tROLE\tCIDR\tPREFIX RESERVATION")
	for _, s := range p.Subnets {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.Name, s.AZ, s.Role, s.CIDR, dash(s.Reservation))
	}
	tw.Flush()
	if len(p.Endpoints) > 0 {
		ew.printf("  VPC endpoints (no NAT: private nodes reach AWS only through these):\n")
		tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
		for _, e := range p.Endpoints {
			kind := e.Type
			if e.PrivateDNS {
				kind += ", private DNS"
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\n", e.ServiceName, kind, e.Why)
		}
		tw.Flush()
	} else if p.NAT == "none" {
		ew.printf("  VPC endpoints: none registered\n")
	}

	ew.printf("\nNode groups:\n")
	for i, ng := range p.NodeGroups {
		ew.printf("  %s: %s (%s, %s, %s), min %d / desired %d / max %d in %s\n", ng.Name, strings.Join(ng.InstanceTypes, ","),
			ng.Arch, ng.OS, ng.CapacityType, ng.MinSize, ng.DesiredSize, ng.MaxSize, strings.Join(ng.Subnets, ", "))
		ew.printf("    max pods %d: %s; kube-reserved memory %d MiB\n", ng.MaxPods, ng.MaxPodsReason, ng.KubeReservedMemoryMiB)
		if ng.AMIPinned {
			ew.printf("    AMI %s pinned by eksnet:nodeGroups[%d].amiId (moves only with `eksnet ami update %s`; recommended one: %s)\n", ng.AMI, i, p.Stack, ng.AMIParameter)
		} else {
			ew.printf("    AMI not pinned: up refuses; a plan shows %s from %s (placeholder here); pin it with `eksnet ami update %s`\n", ng.AMI, ng.AMIParameter, p.Stack)
		}
		mode := "secondary IPs"
		if ng.CNI.PrefixDelegation {
			mode = "/28 prefixes"
		}
		ew.printf("    CNI %s with %s\n", ng.CNI.Mode, mode)
		if a := ng.CNI.Agent; a != nil {
			note := ""
			if a.Placeholder {
				note = " (placeholder: set eksnet:cni.agent." + a.Arch + "Path before up)"
			}
			ew.printf("    agent %s sha256 %s%s\n", a.BinaryURL, a.SHA256, note)
			keys := slices.Sorted(maps.Keys(a.Env))
			var env []string
			for _, k := range keys {
				env = append(env, k+"="+a.Env[k])
			}
			ew.printf("    agent.env %s\n", strings.Join(env, " "))
		}
	}

	ew.printf("\nPublic exposure:\n")
	if len(p.Exposure) == 0 {
		ew.printf("  none: nothing is reachable from outside the VPC\n")
	}
	for _, e := range p.Exposure {
		ew.printf("  %s: reachable from %s\n", e.What, fromText(e.From))
	}
	for _, c := range p.Closed {
		ew.printf("  closed: %s\n", c)
	}
	ew.printf("\nDefault LimitRange (container defaults for pods that set none):\n")
	for _, lr := range p.LimitRanges {
		ew.printf("  %s: %s, requests %s, limits %s\n", lr.Namespace, lr.Name, lr.DefaultRequest, lr.Default)
	}
	ew.printf("  %s\n", LaterNamespaces)
	if p.DemoImage != "" {
		ew.printf("\nDemo app: image %s\n", p.DemoImage)
	}
	writeAddons(ew, p)

	ew.printf("\nUp refuses until fixed:\n")
	if len(p.UpRefusals) == 0 {
		ew.printf("  nothing: an update would proceed as planned\n")
	}
	for _, r := range p.UpRefusals {
		ew.printf("  %s\n", r)
	}

	ew.printf("\nIP capacity (every node full: max nodes per AZ x max pods):\n")
	tw = tabwriter.NewWriter(ew, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SUBNET\tCIDR\tMAX NODES\tADDRESSES\tNEEDED\t/28 ROOM\t/28 NEEDED\tFITS")
	for _, c := range p.Capacity {
		room, need := "-", "-"
		if c.PrefixRoom > 0 || c.PrefixesNeeded > 0 {
			room, need = fmt.Sprint(c.PrefixRoom), fmt.Sprint(c.PrefixesNeeded)
		}
		fits := "yes"
		if !c.Fits {
			fits = "NO"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", c.Subnet.Name, c.Subnet.CIDR, c.MaxNodes, c.Addresses, c.AddressesNeeded, room, need, fits)
	}
	tw.Flush()
	return ew.err
}

// LaterNamespaces says what the stack does not cover; plan prints it and
// docs/provisioning.md says the same.
const LaterNamespaces = "namespaces created later, outside the stack (kubectl create namespace, helm --create-namespace), get no LimitRange: their pods run without default requests or limits; add them to eksnet:addons.namespaces and the stack creates them with it"

func formatInputs(in map[string]any) string {
	if len(in) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(in)) {
		b, err := json.Marshal(in[k])
		if err != nil {
			b = []byte(fmt.Sprint(in[k]))
		}
		parts = append(parts, k+"="+string(b))
	}
	return "  " + strings.Join(parts, " ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
