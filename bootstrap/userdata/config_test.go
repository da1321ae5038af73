package userdata

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestValidateRejectsBadFields(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		field  string
		reason string // substring of the message: the accepted values
	}{
		{"unknown OS", func(c *Config) { c.OS = "ubuntu" }, "OS", "al2023, al2, bottlerocket"},
		{"empty cluster", func(c *Config) { c.ClusterName = "" }, "ClusterName", "1-100 letters"},
		{"cluster with space", func(c *Config) { c.ClusterName = "dev eks" }, "ClusterName", "1-100 letters"},
		{"cluster too long", func(c *Config) { c.ClusterName = strings.Repeat("a", 101) }, "ClusterName", "1-100"},
		{"http endpoint", func(c *Config) { c.Endpoint = "http://example.com" }, "Endpoint", "https://"},
		{"endpoint with quote", func(c *Config) { c.Endpoint = "https://exa'mple.com" }, "Endpoint", "https://"},
		{"CA not base64", func(c *Config) { c.CertificateAuthority = "not base64!" }, "CertificateAuthority", "base64"},
		{"CA raw PEM", func(c *Config) {
			pem, _ := base64.StdEncoding.DecodeString(c.CertificateAuthority)
			c.CertificateAuthority = string(pem)
		}, "CertificateAuthority", "base64"},
		{"CA base64 of garbage", func(c *Config) { c.CertificateAuthority = base64.StdEncoding.EncodeToString([]byte("hello")) }, "CertificateAuthority", "no PEM CERTIFICATE"},
		{"CA bad certificate", func(c *Config) {
			c.CertificateAuthority = base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n"))
		}, "CertificateAuthority", "not an X.509"},
		{"service CIDR host bits", func(c *Config) { c.ServiceCIDR = "172.20.0.1/16" }, "ServiceCIDR", "/12 to /24"},
		{"service CIDR public", func(c *Config) { c.ServiceCIDR = "8.8.0.0/16" }, "ServiceCIDR", "private IPv4"},
		{"service CIDR too small", func(c *Config) { c.ServiceCIDR = "10.0.0.0/28" }, "ServiceCIDR", "/12 to /24"},
		{"service CIDR IPv6", func(c *Config) { c.ServiceCIDR = "fd00::/108" }, "ServiceCIDR", "IPv4"},
		{"zero max pods", func(c *Config) { c.MaxPods = 0 }, "MaxPods", "1 or more"},
		{"negative kube reserved", func(c *Config) { c.KubeReservedMemoryMiB = -1 }, "KubeReservedMemoryMiB", "0 (11 x MaxPods + 255)"},
		{"unknown CNI", func(c *Config) { c.CNI = "calico" }, "CNI", "agent, aws-vpc-cni"},
		{"agent on bottlerocket", func(c *Config) { c.OS = OSBottlerocket }, "CNI", "use CNI aws-vpc-cni on bottlerocket"},
		{"agent without binaries", func(c *Config) { c.Agent.Binaries = nil }, "Agent.Binaries", "at least one of amd64, arm64"},
		{"agent binaries with aws-vpc-cni", func(c *Config) { c.CNI = CNIAWSVPC }, "Agent.Binaries", "only installed with CNI agent"},
		{"unknown arch", func(c *Config) {
			c.Agent.Binaries["x86_64"] = AgentBinary{URL: "https://a.example/x", SHA256: testSHAAmd64}
		}, "Agent.Binaries", "amd64, arm64"},
		{"ftp URL", func(c *Config) {
			c.Agent.Binaries["amd64"] = AgentBinary{URL: "ftp://a.example/x", SHA256: testSHAAmd64}
		}, "Agent.Binaries[amd64].URL", "https://, http:// or s3://"},
		{"URL injecting shell", func(c *Config) {
			c.Agent.Binaries["amd64"] = AgentBinary{URL: "https://a.example/x';reboot;'", SHA256: testSHAAmd64}
		}, "Agent.Binaries[amd64].URL", "without quotes"},
		{"short sha", func(c *Config) { c.Agent.Binaries["arm64"] = AgentBinary{URL: "https://a.example/x", SHA256: "abc"} }, "Agent.Binaries[arm64].SHA256", "64 hex digits"},
		{"negative warm IP", func(c *Config) { c.Agent.WarmIPTarget = -1 }, "Agent.WarmIPTarget", "0 (agent default)"},
		{"negative max ENI", func(c *Config) { c.Agent.MaxENI = -2 }, "Agent.MaxENI", "0 (agent default)"},
		{"negative host-network DaemonSets", func(c *Config) { c.Agent.HostNetworkDaemonSets = -1 }, "Agent.HostNetworkDaemonSets", "0 (agent default)"},
		{"negative warm ENI", func(c *Config) { c.Agent.WarmENITarget = -1 }, "Agent.WarmENITarget", "0 (agent default)"},
		{"bad SNAT exclusion", func(c *Config) { c.Agent.SNATExcludeCIDRs = []string{"10.0.0.1/8"} }, "Agent.SNATExcludeCIDRs", "IPv4 CIDR"},
		{"label with space", func(c *Config) { c.NodeLabels = map[string]string{"team name": "a"} }, "NodeLabels", "label name is 1-63"},
		{"label upper-case prefix", func(c *Config) { c.NodeLabels = map[string]string{"Example.com/team": "a"} }, "NodeLabels", "DNS subdomain"},
		{"label value with comma", func(c *Config) { c.NodeLabels = map[string]string{"team": "a,b"} }, "NodeLabels", "label value is empty or up to 63"},
		{"label value with quote", func(c *Config) { c.NodeLabels = map[string]string{"team": `a"b`} }, "NodeLabels", "label value is empty or up to 63"},
		{"label CNI set by hand", func(c *Config) { c.NodeLabels = map[string]string{LabelCNI: "agent"} }, "NodeLabels", "set by eksnet from the CNI mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := baseConfig(t, OSAL2023, CNIAgent, false)
			tt.mutate(&c)
			err := c.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *FieldError for %s", err, tt.field)
			}
			if fe.Field != tt.field || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Validate() = %q (field %s), want field %s and %q", err, fe.Field, tt.field, tt.reason)
			}
			if _, rerr := Render(c); rerr == nil {
				t.Error("Render accepted a config Validate rejects")
			}
		})
	}
}

func TestValidateAcceptsEveryOSWithAWSVPCCNI(t *testing.T) {
	for _, os := range OSes {
		for _, pd := range []bool{false, true} {
			if err := baseConfig(t, os, CNIAWSVPC, pd).Validate(); err != nil {
				t.Errorf("%s pd=%v: Validate() = %v", os, pd, err)
			}
		}
	}
	c := baseConfig(t, OSAL2, CNIAgent, true)
	c.Agent.Binaries = map[string]AgentBinary{"arm64": {URL: "http://10.0.0.5:8080/agent", SHA256: strings.ToUpper(testSHAArm64)}}
	if err := c.Validate(); err != nil {
		t.Errorf("single arm64 binary over http with upper-case digest: Validate() = %v", err)
	}
}

func TestAgentEnv(t *testing.T) {
	c := baseConfig(t, OSAL2023, CNIAgent, true)
	c.Agent.MaxENI = 2
	c.Agent.HostNetworkDaemonSets = 2
	c.Agent.ExternalSNAT = true
	c.Agent.SNATExcludeCIDRs = []string{"192.168.0.0/16", "10.200.0.0/16"}
	got := strings.Join(AgentEnv(c), "\n")
	want := strings.Join([]string{
		"EKSNET_CLUSTER=dev-eksnet",
		"EKSNET_MODE=prefix",
		"EKSNET_MAX_PODS=110",
		"EKSNET_WARM_PREFIX_TARGET=1",
		"EKSNET_MAX_ENI=2",
		"EKSNET_HOST_NETWORK_DAEMONSETS=2",
		"EKSNET_ATTACH_AFTER=/run/nodeadm/init",
		"EKSNET_NETWORKD_DIR=/etc/systemd/network",
		"EKSNET_EXTERNAL_SNAT=true",
		"EKSNET_SNAT_EXCLUDE_CIDRS=192.168.0.0/16,10.200.0.0/16",
	}, "\n")
	if got != want {
		t.Errorf("AgentEnv =\n%s\nwant\n%s", got, want)
	}

	// Secondary mode with a warm ENI target: the agent must get it, not
	// silently fall back to its default.
	c = baseConfig(t, OSAL2, CNIAgent, false)
	c.Agent.WarmENITarget = 2
	got = strings.Join(AgentEnv(c), "\n")
	if !strings.Contains(got, "\nEKSNET_WARM_ENI_TARGET=2\n") {
		t.Errorf("AgentEnv with WarmENITarget 2 =\n%s\nwant an EKSNET_WARM_ENI_TARGET=2 line", got)
	}
	c.Agent.WarmENITarget = 0
	if got = strings.Join(AgentEnv(c), "\n"); strings.Contains(got, "EKSNET_WARM_ENI_TARGET") {
		t.Errorf("AgentEnv with WarmENITarget 0 =\n%s\nwant no EKSNET_WARM_ENI_TARGET (the agent's default)", got)
	}
}
