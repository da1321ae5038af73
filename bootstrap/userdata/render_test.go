package userdata

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"gopkg.in/yaml.v3"

	"github.com/eksnet/eksnet/bootstrap/maxpods"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testCA is a real self-signed certificate, base64-encoded as EKS reports it.
func testCA(t testing.TB) string {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join("testdata", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(pemBytes)
}

const (
	testSHAAmd64 = "1111111111111111111111111111111111111111111111111111111111111111"
	testSHAArm64 = "2222222222222222222222222222222222222222222222222222222222222222"
)

// baseConfig is a valid config for os/cni/pd, with max pods from the real
// calculator for a t3.medium, as the infra code derives it.
func baseConfig(t testing.TB, os OS, cni CNI, pd bool) Config {
	t.Helper()
	r, err := maxpods.Calculate("t3.medium", maxpods.Options{PrefixDelegation: pd})
	if err != nil {
		t.Fatal(err)
	}
	c := Config{
		OS:                   os,
		ClusterName:          "dev-eksnet",
		Endpoint:             "https://0123456789ABCDEF.gr7.us-east-1.eks.amazonaws.com",
		CertificateAuthority: testCA(t),
		ServiceCIDR:          "172.20.0.0/16",
		MaxPods:              r.MaxPods,
		CNI:                  cni,
		PrefixDelegation:     pd,
	}
	if cni == CNIAgent {
		c.Agent = AgentConfig{
			Binaries: map[string]AgentBinary{
				"arm64": {URL: "s3://dev-eksnet-artifacts/eksnet-node/v0.1.0/linux-arm64/eksnet-node.tar.gz", SHA256: testSHAArm64},
				"amd64": {URL: "https://artifacts.example.com/eksnet/v0.1.0/eksnet-node-linux-amd64.tar.gz", SHA256: testSHAAmd64},
			},
			SNATExcludeCIDRs: []string{"192.168.0.0/16"},
		}
		// The warm targets a user would pick for each mode.
		if pd {
			c.Agent.WarmPrefixTarget = 1
		} else {
			c.Agent.WarmIPTarget, c.Agent.MinimumIPTarget = 5, 10
		}
	}
	return c
}

type matrixCase struct {
	os  OS
	cni CNI
	pd  bool
}

// mode is the agent's EKSNET_MODE value, also used in golden file names.
func (m matrixCase) mode() string {
	if m.pd {
		return "prefix"
	}
	return "secondary"
}

func (m matrixCase) name() string { return fmt.Sprintf("%s-%s-%s", m.os, m.cni, m.mode()) }

func matrix() []matrixCase {
	var out []matrixCase
	for _, os := range OSes {
		for _, cni := range CNIs {
			for _, pd := range []bool{false, true} {
				out = append(out, matrixCase{os, cni, pd})
			}
		}
	}
	return out
}

// TestRenderGolden renders every OS x CNI x mode and compares with
// testdata/<os>-<cni>-<mode>.golden (go test -update rewrites them).
// Bottlerocket with the agent must fail instead.
func TestRenderGolden(t *testing.T) {
	for _, m := range matrix() {
		t.Run(m.name(), func(t *testing.T) {
			got, err := Render(baseConfig(t, m.os, m.cni, m.pd))
			if m.os == OSBottlerocket && m.cni == CNIAgent {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "CNI" || !strings.Contains(err.Error(), "bottlerocket") {
					t.Fatalf("Render(bottlerocket, agent) error = %v, want a CNI field error naming bottlerocket", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", m.name()+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden file (run go test -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("Render differs from %s (go test ./bootstrap/userdata -update to accept):\n%s", path, got)
			}
			again, _ := Render(baseConfig(t, m.os, m.cni, m.pd))
			if again != got {
				t.Error("Render is not deterministic: two renders of one config differ")
			}
		})
	}
}

// TestRenderedPartsAreWellFormed decodes every MIME output and checks each
// part: shell parts pass bash -n and carry the right flags, the agent part
// comes before AL2's bootstrap, Bottlerocket TOML parses with an integer max-pods.
func TestRenderedPartsAreWellFormed(t *testing.T) {
	for _, m := range matrix() {
		if m.os == OSBottlerocket && m.cni == CNIAgent {
			continue
		}
		t.Run(m.name(), func(t *testing.T) {
			c := baseConfig(t, m.os, m.cni, m.pd)
			ud, err := Render(c)
			if err != nil {
				t.Fatal(err)
			}
			if m.os == OSBottlerocket {
				var s struct {
					Settings struct {
						Kubernetes map[string]any `toml:"kubernetes"`
					} `toml:"settings"`
				}
				if _, err := toml.Decode(ud, &s); err != nil {
					t.Fatalf("bottlerocket TOML does not parse: %v\n%s", err, ud)
				}
				k := s.Settings.Kubernetes
				if mp, ok := k["max-pods"].(int64); !ok || int(mp) != c.MaxPods {
					t.Errorf("max-pods = %#v, want integer %d", k["max-pods"], c.MaxPods)
				}
				if k["cluster-name"] != c.ClusterName || k["api-server"] != c.Endpoint || k["cluster-certificate"] != c.CertificateAuthority || k["cluster-dns-ip"] != "172.20.0.10" {
					t.Errorf("bottlerocket settings = %v, want cluster, endpoint, CA and DNS 172.20.0.10", k)
				}
				if kr, _ := k["kube-reserved"].(map[string]any); kr["memory"] != fmt.Sprintf("%dMi", 11*c.MaxPods+255) {
					t.Errorf("kube-reserved = %v, want memory %dMi", k["kube-reserved"], 11*c.MaxPods+255)
				}
				return
			}
			parts, err := ParseParts(ud)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, p := range parts {
				types = append(types, p.ContentType)
				if p.ContentType == ContentTypeShellScript {
					bashSyntaxCheck(t, p.Body)
				}
			}
			wantTypes := map[OS][]string{OSAL2023: {ContentTypeNodeConfig}, OSAL2: {ContentTypeShellScript}}[m.os]
			if m.cni == CNIAgent {
				if m.os == OSAL2 {
					wantTypes = append([]string{ContentTypeShellScript}, wantTypes...)
				} else {
					wantTypes = append(wantTypes, ContentTypeShellScript)
				}
				agentPart := parts[len(parts)-1].Body // AL2023: after the NodeConfig
				if m.os == OSAL2 {
					agentPart = parts[0].Body // AL2: before bootstrap.sh starts kubelet
				}
				for _, w := range []string{"EKSNET_CLUSTER=dev-eksnet\n", "EKSNET_MODE=" + m.mode() + "\n", fmt.Sprintf("EKSNET_MAX_PODS=%d\n", c.MaxPods), "Before=kubelet.service", "ExecStartPre=/usr/local/bin/eksnet-agent install", "ExecStopPost=/usr/local/bin/eksnet-agent withdraw", "systemctl enable --now eksnet-agent.service"} {
					if !strings.Contains(agentPart, w) {
						t.Errorf("agent part lacks %q", w)
					}
				}
			}
			if strings.Join(types, "|") != strings.Join(wantTypes, "|") {
				t.Errorf("part types = %q, want %q", types, wantTypes)
			}
			if m.os == OSAL2 {
				boot := parts[len(parts)-1].Body
				want := fmt.Sprintf("--use-max-pods false \\\n  --kubelet-extra-args '--max-pods=%d --node-labels=eksnet.io/cni=%s'", c.MaxPods, c.CNI)
				if !strings.Contains(boot, want) || !strings.Contains(boot, "/etc/eks/bootstrap.sh 'dev-eksnet'") || !strings.Contains(boot, "--dns-cluster-ip '172.20.0.10'") {
					t.Errorf("AL2 bootstrap part lacks bootstrap.sh with %q and the DNS IP:\n%s", want, boot)
				}
			}
		})
	}
}

func bashSyntaxCheck(t *testing.T, script string) {
	t.Helper()
	cmd := exec.Command("bash", "-n")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("bash -n rejects a shell part: %v\n%s\n%s", err, out, script)
	}
}

// TestNodeConfigParsesBack decodes the AL2023 NodeConfig part with yaml.v3
// into a generic map (not our own struct) and checks what nodeadm reads.
func TestNodeConfigParsesBack(t *testing.T) {
	for _, pd := range []bool{false, true} {
		c := baseConfig(t, OSAL2023, CNIAgent, pd)
		b64, err := RenderBase64(c)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		parts, err := ParseParts(string(raw))
		if err != nil {
			t.Fatal(err)
		}
		if parts[0].ContentType != "application/node.eks.aws" {
			t.Fatalf("first part is %q, want application/node.eks.aws", parts[0].ContentType)
		}
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(parts[0].Body), &doc); err != nil {
			t.Fatalf("NodeConfig is not YAML: %v", err)
		}
		get := func(path ...string) any {
			var v any = doc
			for _, p := range path {
				m, ok := v.(map[string]any)
				if !ok {
					return nil
				}
				v = m[p]
			}
			return v
		}
		wantMax := 17 // t3.medium: 3 x (6 - 1) + 2
		if pd {
			wantMax = 110 // 242 capped
		}
		checks := []struct {
			path []string
			want any
		}{
			{[]string{"apiVersion"}, "node.eks.aws/v1alpha1"},
			{[]string{"kind"}, "NodeConfig"},
			{[]string{"spec", "cluster", "name"}, "dev-eksnet"},
			{[]string{"spec", "cluster", "apiServerEndpoint"}, c.Endpoint},
			{[]string{"spec", "cluster", "certificateAuthority"}, c.CertificateAuthority},
			{[]string{"spec", "cluster", "cidr"}, "172.20.0.0/16"},
			{[]string{"spec", "kubelet", "config", "maxPods"}, wantMax},
			{[]string{"spec", "kubelet", "config", "kubeReserved", "memory"}, fmt.Sprintf("%dMi", 11*wantMax+255)},
		}
		for _, ch := range checks {
			if got := get(ch.path...); got != ch.want {
				t.Errorf("pd=%v: %s = %#v, want %#v", pd, strings.Join(ch.path, "."), got, ch.want)
			}
		}
		nc, err := ParseNodeConfig(string(raw))
		if err != nil || nc.Spec.Kubelet.Config.MaxPods != wantMax || nc.Spec.Cluster.Name != "dev-eksnet" {
			t.Errorf("ParseNodeConfig = %+v, %v; want maxPods %d for dev-eksnet", nc, err, wantMax)
		}
		if want := []string{"--node-labels=eksnet.io/cni=agent"}; !slices.Equal(nc.Spec.Kubelet.Flags, want) {
			t.Errorf("kubelet flags = %q, want %q: the CNI label must hold from kubelet's first start", nc.Spec.Kubelet.Flags, want)
		}
	}
	if _, err := ParseNodeConfig("#!/bin/bash\n"); err == nil {
		t.Error("ParseNodeConfig(non-MIME) = nil error")
	}
	al2, _ := Render(baseConfig(t, OSAL2, CNIAWSVPC, false))
	if _, err := ParseNodeConfig(al2); err == nil || !strings.Contains(err.Error(), "no application/node.eks.aws part") {
		t.Errorf("ParseNodeConfig(AL2) error = %v, want 'no application/node.eks.aws part'", err)
	}
}

func TestKubeReservedOverride(t *testing.T) {
	c := baseConfig(t, OSAL2023, CNIAWSVPC, false)
	c.KubeReservedMemoryMiB = 1024
	ud, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ParseNodeConfig(ud)
	if err != nil || nc.Spec.Kubelet.Config.KubeReserved["memory"] != "1024Mi" {
		t.Errorf("kubeReserved = %v (%v), want memory 1024Mi", nc.Spec.Kubelet.Config.KubeReserved, err)
	}
}

// TestNodeLabelsReachKubelet renders caller labels for every OS, sorted and
// with the CNI label, in the form each OS's kubelet launcher reads.
func TestNodeLabelsReachKubelet(t *testing.T) {
	labels := map[string]string{"team": "payments", "example.com/tier": "web", "empty": ""}
	const flag = "--node-labels=eksnet.io/cni=aws-vpc-cni,empty=,example.com/tier=web,team=payments"

	c := baseConfig(t, OSAL2023, CNIAWSVPC, false)
	c.Agent = AgentConfig{}
	c.NodeLabels = labels
	ud, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ParseNodeConfig(ud)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(nc.Spec.Kubelet.Flags, []string{flag}) {
		t.Errorf("al2023 kubelet flags = %q, want [%q]", nc.Spec.Kubelet.Flags, flag)
	}

	c.OS = OSAL2
	if ud, err = Render(c); err != nil {
		t.Fatal(err)
	}
	if want := "--kubelet-extra-args '--max-pods=17 " + flag + "'"; !strings.Contains(ud, want) {
		t.Errorf("al2 user data lacks %q:\n%s", want, ud)
	}

	c.OS = OSBottlerocket
	if ud, err = Render(c); err != nil {
		t.Fatal(err)
	}
	var s struct {
		Settings struct {
			Kubernetes struct {
				NodeLabels map[string]string `toml:"node-labels"`
			} `toml:"kubernetes"`
		} `toml:"settings"`
	}
	if _, err := toml.Decode(ud, &s); err != nil {
		t.Fatalf("bottlerocket TOML does not parse: %v\n%s", err, ud)
	}
	want := map[string]string{"eksnet.io/cni": "aws-vpc-cni", "team": "payments", "example.com/tier": "web", "empty": ""}
	if !maps.Equal(s.Settings.Kubernetes.NodeLabels, want) {
		t.Errorf("bottlerocket node-labels = %v, want %v", s.Settings.Kubernetes.NodeLabels, want)
	}
}
