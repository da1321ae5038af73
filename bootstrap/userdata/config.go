package userdata

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/eksnet/eksnet/bootstrap/maxpods"
)

// OS is the node operating system family; it decides the user-data format.
type OS string

// Node operating systems Render supports.
const (
	OSAL2023       OS = "al2023"
	OSAL2          OS = "al2"
	OSBottlerocket OS = "bottlerocket"
)

// OSes lists the accepted OS values, for help texts and errors.
var OSes = []OS{OSAL2023, OSAL2, OSBottlerocket}

// CNI is the pod-networking implementation the node runs.
type CNI string

// CNIs Render supports.
const (
	// CNIAgent is the bundled eksnet agent, installed by a user-data shell part.
	CNIAgent CNI = "agent"
	// CNIAWSVPC is the AWS VPC CNI add-on, a DaemonSet: user data only sets max pods.
	CNIAWSVPC CNI = "aws-vpc-cni"
)

// CNIs lists the accepted CNI values.
var CNIs = []CNI{CNIAgent, CNIAWSVPC}

// AgentRefusesCustomNetworking is why custom networking needs the AWS VPC
// CNI: the agent reads no ENIConfig and takes pod addresses from ENIs in
// the node's own subnet. The CLI and the stack validation both say it.
const AgentRefusesCustomNetworking = "custom networking (pods on separate subnets) is supported with the AWS VPC CNI only; the eksnet agent allocates pod addresses from the node's subnet"

// Architectures the agent install part can pick a node bundle for, by GOARCH name
// (the script maps uname -m x86_64 -> amd64, aarch64 -> arm64).
var Architectures = []string{"amd64", "arm64"}

// Config is everything a node needs to join the cluster with the right max
// pods and, in agent mode, to run the eksnet agent before kubelet.
type Config struct {
	OS OS
	// ClusterName is the EKS cluster name.
	ClusterName string
	// Endpoint is the cluster API server URL (https).
	Endpoint string
	// CertificateAuthority is the cluster CA bundle, base64-encoded PEM, as
	// EKS returns it.
	CertificateAuthority string
	// ServiceCIDR is the cluster's Kubernetes service IPv4 CIDR; the cluster
	// DNS address is its 10th address.
	ServiceCIDR string
	// MaxPods is kubelet's maxPods, normally from bootstrap/maxpods.
	MaxPods int
	// KubeReservedMemoryMiB is kubelet's kube-reserved memory; 0 means
	// 11 * MaxPods + 255, the EKS AMI rule.
	KubeReservedMemoryMiB int
	CNI                   CNI
	// PrefixDelegation selects /28 prefixes (the agent's EKSNET_MODE=prefix);
	// with the AWS VPC CNI it is the add-on's setting and only MaxPods reflects it.
	PrefixDelegation bool
	// Agent configures the eksnet agent; required with CNIAgent, rejected otherwise.
	Agent AgentConfig
	// NodeLabels are registered by kubelet itself, so they hold from the
	// node's first moment (managed node group labels arrive later). LabelCNI
	// is always added from CNI.
	NodeLabels map[string]string
	// NodeTaints are registered by kubelet with the node, so no pod that
	// does not tolerate them lands in the moment before EKS applies the
	// managed node group's taints.
	NodeTaints []Taint
}

// AgentConfig is the eksnet agent's install source and settings. Zero numeric
// targets mean "the agent's default" and are left out of agent.env.
type AgentConfig struct {
	// Binaries maps a GOARCH (amd64, arm64) to where its node bundle lives:
	// the eksnet-agent and eksnet-cni tarball `eksnet bundle` builds (see
	// bootstrap/bundle). The name predates the bundle and is kept so the
	// CLI flags and error field names stay stable.
	Binaries map[string]AgentBinary
	// WarmIPTarget, MinimumIPTarget, WarmPrefixTarget (prefix mode) and
	// WarmENITarget (secondary mode, when no IP target is set) size the warm
	// pool.
	WarmIPTarget     int
	MinimumIPTarget  int
	WarmPrefixTarget int
	WarmENITarget    int
	// MaxENI caps the ENIs the agent attaches (0: the instance's limit).
	MaxENI int
	// HostNetworkDaemonSets are the user's host-network DaemonSet pods per
	// node that MaxPods counts beyond kube-proxy: the agent serves MaxPods
	// less them and kube-proxy addresses (EKSNET_HOST_NETWORK_DAEMONSETS).
	HostNetworkDaemonSets int
	// ExternalSNAT turns the agent's SNAT off when a NAT device does it.
	ExternalSNAT bool
	// SNATExcludeCIDRs are destinations outside the VPC that must see pod IPs.
	SNATExcludeCIDRs []string
	// InstanceLimits are the ENI limits of instance types newer than the
	// embedded table, as the max pods were computed with them: the agent
	// needs the same limits to size its pool (EKSNET_INSTANCE_LIMITS).
	InstanceLimits []maxpods.InstanceType
}

// AgentBinary is one downloadable node bundle (eksnet-agent and eksnet-cni
// for one architecture) and its expected SHA-256.
type AgentBinary struct {
	// URL is https://, http:// or s3:// (fetched with the node's AWS CLI and role).
	URL string
	// SHA256 is the hex digest the downloaded bundle must match.
	SHA256 string
}

// FieldError is a Config validation failure. Field is the Config field path
// (e.g. "Agent.Binaries[arm64].SHA256"), so callers such as the CLI can map it
// to their own flag names.
type FieldError struct {
	Field  string
	Value  string
	Reason string
}

// Error names the field, the bad value and what is accepted.
func (e *FieldError) Error() string {
	return fmt.Sprintf("user data: %s %q: %s", e.Field, e.Value, e.Reason)
}

var (
	clusterNameRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$`)
	sha256RE      = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// Validate checks every field Render uses, so a bad value fails here with its
// field name rather than on a booting node.
func (c Config) Validate() error {
	if !slices.Contains(OSes, c.OS) {
		return &FieldError{"OS", string(c.OS), fmt.Sprintf("want one of %s", joinValues(OSes))}
	}
	if !clusterNameRE.MatchString(c.ClusterName) {
		return &FieldError{"ClusterName", c.ClusterName, "want 1-100 letters, digits, '-' or '_', starting with a letter or digit"}
	}
	if err := validateEndpoint(c.Endpoint); err != nil {
		return err
	}
	if err := validateCA(c.CertificateAuthority); err != nil {
		return err
	}
	if _, err := clusterDNS(c.ServiceCIDR); err != nil {
		return err
	}
	if c.MaxPods < 1 {
		return &FieldError{"MaxPods", fmt.Sprint(c.MaxPods), "want 1 or more (see eksnet maxpods)"}
	}
	if c.KubeReservedMemoryMiB < 0 {
		return &FieldError{"KubeReservedMemoryMiB", fmt.Sprint(c.KubeReservedMemoryMiB), "want 0 (11 x MaxPods + 255) or more"}
	}
	if err := ValidateNodeLabels(c.NodeLabels); err != nil {
		return err
	}
	if err := ValidateTaints(c.NodeTaints); err != nil {
		return err
	}
	switch c.CNI {
	case CNIAWSVPC:
		if len(c.Agent.Binaries) > 0 {
			return &FieldError{"Agent.Binaries", fmt.Sprint(len(c.Agent.Binaries)), "the agent is only installed with CNI agent; drop the node bundles or choose CNI agent"}
		}
		return nil
	case CNIAgent:
	default:
		return &FieldError{"CNI", string(c.CNI), fmt.Sprintf("want one of %s", joinValues(CNIs))}
	}
	if c.OS == OSBottlerocket {
		return &FieldError{"CNI", string(c.CNI), "bottlerocket runs no user-data shell scripts, so it cannot install the eksnet agent: use CNI aws-vpc-cni on bottlerocket, or OS al2023 or al2 with the agent"}
	}
	return c.Agent.validate()
}

func (a AgentConfig) validate() error {
	if len(a.Binaries) == 0 {
		return &FieldError{"Agent.Binaries", "", fmt.Sprintf("CNI agent needs a node bundle URL and SHA-256 (eksnet bundle prints them) for at least one of %s, or choose CNI aws-vpc-cni", strings.Join(Architectures, ", "))}
	}
	for arch, b := range a.Binaries {
		if !slices.Contains(Architectures, arch) {
			return &FieldError{"Agent.Binaries", arch, fmt.Sprintf("architecture: want one of %s", strings.Join(Architectures, ", "))}
		}
		if err := validateAgentURL(arch, b.URL); err != nil {
			return err
		}
		if !sha256RE.MatchString(b.SHA256) {
			return &FieldError{"Agent.Binaries[" + arch + "].SHA256", b.SHA256, "want 64 hex digits (sha256sum of the node bundle, as eksnet bundle prints it)"}
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"Agent.WarmIPTarget", a.WarmIPTarget}, {"Agent.MinimumIPTarget", a.MinimumIPTarget}, {"Agent.WarmPrefixTarget", a.WarmPrefixTarget}, {"Agent.WarmENITarget", a.WarmENITarget}, {"Agent.MaxENI", a.MaxENI}, {"Agent.HostNetworkDaemonSets", a.HostNetworkDaemonSets}} {
		if f.v < 0 {
			return &FieldError{f.name, fmt.Sprint(f.v), "want 0 (agent default) or more"}
		}
	}
	for _, s := range a.SNATExcludeCIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() || p != p.Masked() {
			return &FieldError{"Agent.SNATExcludeCIDRs", s, "want an IPv4 CIDR with no host bits, e.g. 192.168.0.0/16"}
		}
	}
	return nil
}

func validateEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, " \t\n'\"\\$`") {
		return &FieldError{"Endpoint", s, "want the cluster's https:// API server URL, e.g. https://ABCDEF.gr7.us-east-1.eks.amazonaws.com"}
	}
	return nil
}

func validateCA(s string) error {
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return &FieldError{"CertificateAuthority", abbreviate(s), "want the base64-encoded PEM CA bundle EKS reports (certificateAuthority.data): " + err.Error()}
	}
	block, _ := pem.Decode(der)
	if block == nil || block.Type != "CERTIFICATE" {
		return &FieldError{"CertificateAuthority", abbreviate(s), "base64 decodes to no PEM CERTIFICATE block; want base64 of the PEM bundle, not of the DER"}
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return &FieldError{"CertificateAuthority", abbreviate(s), "PEM block is not an X.509 certificate: " + err.Error()}
	}
	return nil
}

func validateAgentURL(arch, s string) error {
	u, err := url.Parse(s)
	ok := err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http" || u.Scheme == "s3")
	if !ok || strings.ContainsAny(s, " \t\n'\"\\$`") {
		return &FieldError{"Agent.Binaries[" + arch + "].URL", s, "want an https://, http:// or s3:// URL without quotes, spaces or '$'"}
	}
	return nil
}

// clusterDNS returns the cluster DNS address for an EKS service CIDR: its
// 10th address, as EKS assigns kube-dns. EKS accepts /12 to /24 in private ranges.
func clusterDNS(serviceCIDR string) (netip.Addr, error) {
	p, err := netip.ParsePrefix(serviceCIDR)
	if err != nil || !p.Addr().Is4() || p != p.Masked() || p.Bits() < 12 || p.Bits() > 24 || !p.Addr().IsPrivate() {
		return netip.Addr{}, &FieldError{"ServiceCIDR", serviceCIDR, "want a private IPv4 CIDR from /12 to /24 with no host bits, e.g. 172.20.0.0/16 (the cluster's service CIDR)"}
	}
	a := p.Addr().As4()
	a[3] += 10
	return netip.AddrFrom4(a), nil
}

func joinValues[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// abbreviate keeps long inputs (CA bundles) readable in error messages.
func abbreviate(s string) string {
	if len(s) > 24 {
		return s[:24] + "..."
	}
	return s
}
