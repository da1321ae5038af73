package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/bootstrap/userdata"
)

// selfSignedCA returns a fresh cluster CA certificate, base64 PEM as EKS
// reports it (user data validation parses it as X.509).
func selfSignedCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func userDataArgs(t *testing.T, extra ...string) []string {
	t.Helper()
	return append([]string{"userdata", "--cluster", "dev", "--endpoint", "https://abc.gr7.us-east-1.eks.amazonaws.com",
		"--ca", selfSignedCA(t), "--service-cidr", "172.20.0.0/16"}, extra...)
}

func TestUserDataAgentGroupMinimum(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	stdout, stderr, err := run(t, userDataArgs(t, "--instance-type", "m5.large", "--instance-type", "t3.medium",
		"--agent-url", "https://artifacts.example.com/{arch}/eksnet-agent", "--agent-sha256", "amd64="+sum, "--agent-sha256", "arm64="+sum)...)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := userdata.ParseNodeConfig(stdout)
	if err != nil {
		t.Fatal(err)
	}
	if nc.Spec.Kubelet.Config.MaxPods != 16 || nc.Spec.Kubelet.Config.KubeReserved["memory"] != "431Mi" {
		t.Errorf("kubelet config = %+v, want the group minimum 16 (t3.medium, agent: kube-proxy its one host-network pod) and 431Mi", nc.Spec.Kubelet.Config)
	}
	if !strings.Contains(stdout, "https://artifacts.example.com/arm64/eksnet-agent") || !strings.Contains(stdout, "EKSNET_MAX_PODS=16") {
		t.Error("agent part lacks the arm64 URL or EKSNET_MAX_PODS=16")
	}
	if !strings.Contains(stderr, "max pods 16 (limited by t3.medium)") {
		t.Errorf("stderr = %q, want the max-pods summary", stderr)
	}
	if strings.Contains(stdout, "EKSNET_WARM_ENI_TARGET") {
		t.Error("agent.env sets EKSNET_WARM_ENI_TARGET without --warm-eni-target")
	}
}

func TestUserDataWarmENITarget(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	agent := []string{"--instance-type", "t3.medium", "--agent-url", "https://artifacts.example.com/eksnet-node.tar.gz", "--agent-sha256", sum}
	stdout, _, err := run(t, userDataArgs(t, append(agent, "--warm-eni-target", "2")...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "EKSNET_WARM_ENI_TARGET=2") {
		t.Error("agent.env lacks EKSNET_WARM_ENI_TARGET=2")
	}
	_, _, err = run(t, userDataArgs(t, append(agent, "--warm-eni-target", "-1")...)...)
	if err == nil || !strings.Contains(err.Error(), "--warm-eni-target") {
		t.Errorf("--warm-eni-target -1: %v, want an error naming the flag", err)
	}
}

// TestUserDataHostNetworkDaemonSets: the user's host-network DaemonSets
// raise kubelet's max pods (t3.medium: 15 addresses + kube-proxy + 2 = 18,
// or + aws-node = 19 with the AWS VPC CNI) and reach the agent, which must
// then serve 18 - 3 = 15 addresses, not 17.
func TestUserDataHostNetworkDaemonSets(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	stdout, _, err := run(t, userDataArgs(t, "--instance-type", "t3.medium", "--host-network-daemonsets", "2",
		"--agent-url", "https://artifacts.example.com/eksnet-node.tar.gz", "--agent-sha256", sum)...)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := userdata.ParseNodeConfig(stdout)
	if err != nil {
		t.Fatal(err)
	}
	if nc.Spec.Kubelet.Config.MaxPods != 18 || !strings.Contains(stdout, "\nEKSNET_MAX_PODS=18\n") || !strings.Contains(stdout, "\nEKSNET_HOST_NETWORK_DAEMONSETS=2\n") {
		t.Errorf("kubelet max pods %d; want 18 and agent.env EKSNET_MAX_PODS=18, EKSNET_HOST_NETWORK_DAEMONSETS=2 in:\n%s", nc.Spec.Kubelet.Config.MaxPods, stdout)
	}
	stdout, _, err = run(t, userDataArgs(t, "--cni", "aws-vpc-cni", "--instance-type", "t3.medium", "--host-network-daemonsets", "2")...)
	if err != nil {
		t.Fatal(err)
	}
	if nc, err = userdata.ParseNodeConfig(stdout); err != nil || nc.Spec.Kubelet.Config.MaxPods != 19 {
		t.Errorf("aws-vpc-cni with 2 DaemonSets: %v, kubelet config %+v; want max pods 19 (AWS's 17 + 2)", err, nc.Spec.Kubelet.Config)
	}
}

// TestUserDataLimitsReachTheAgent: the limits --limits gives for a type
// newer than the table go to agent.env too, written so the agent reads them
// back (space-separated, every field), since the agent sizes its pool from
// the instance type's limits and would not start without them.
func TestUserDataLimitsReachTheAgent(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	stdout, stderr, err := run(t, userDataArgs(t, "--instance-type", "m9.large", "--limits", "m9.large= 3,10", "--limits", "m9.xlarge=4,15,4,nitro",
		"--agent-url", "https://artifacts.example.com/eksnet-node.tar.gz", "--agent-sha256", sum)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "\nEKSNET_INSTANCE_LIMITS=m9.large=3,10,0,unknown m9.xlarge=4,15,4,nitro\n") {
		t.Errorf("agent.env lacks EKSNET_INSTANCE_LIMITS for both --limits types:\n%s", stdout)
	}
	if !strings.Contains(stderr, "max pods 28 (limited by m9.large)") {
		t.Errorf("stderr = %q, want max pods 28 = 3*(10-1) pod addresses + kube-proxy", stderr)
	}
	// aws-vpc-cni runs no agent: max pods uses the limits, nothing else does.
	stdout, _, err = run(t, userDataArgs(t, "--cni", "aws-vpc-cni", "--instance-type", "m9.large", "--limits", "m9.large=3,10")...)
	if err != nil || strings.Contains(stdout, "EKSNET_") {
		t.Errorf("--cni aws-vpc-cni --limits: %v; want no agent settings in:\n%s", err, stdout)
	}
}

func TestUserDataBase64AL2PrefixDelegation(t *testing.T) {
	stdout, _, err := run(t, userDataArgs(t, "--os", "al2", "--cni", "aws-vpc-cni", "--instance-type", "t3.medium", "--prefix-delegation", "--base64")...)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(stdout)
	if err != nil {
		t.Fatalf("--base64 output does not decode: %v", err)
	}
	if !strings.Contains(string(raw), "--use-max-pods false") || !strings.Contains(string(raw), "--kubelet-extra-args '--max-pods=110 --node-labels=eksnet.io/cni=aws-vpc-cni'") {
		t.Errorf("AL2 user data lacks bootstrap.sh max-pods flags:\n%s", raw)
	}
}

func TestUserDataNodeLabels(t *testing.T) {
	stdout, _, err := run(t, userDataArgs(t, "--cni", "aws-vpc-cni", "--instance-type", "t3.medium", "--node-label", "team=payments", "--node-label", "example.com/tier=web")...)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := userdata.ParseNodeConfig(stdout)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--node-labels=eksnet.io/cni=aws-vpc-cni,example.com/tier=web,team=payments"}
	if !slices.Equal(nc.Spec.Kubelet.Flags, want) {
		t.Errorf("kubelet flags = %q, want %q", nc.Spec.Kubelet.Flags, want)
	}
}

func TestUserDataCustomNetworkingWithAWSVPCCNI(t *testing.T) {
	stdout, stderr, err := run(t, userDataArgs(t, "--instance-type", "m5.large", "--cni", "aws-vpc-cni", "--custom-networking")...)
	if err != nil {
		t.Fatal(err)
	}
	// m5.large: 3 ENIs x (10-1) addresses, the primary ENI left out: 2x9+2 = 20.
	if !strings.Contains(stderr, "max pods 20 ") || !strings.Contains(stdout, "maxPods: 20") {
		t.Errorf("stderr %q; user data lacks maxPods: 20:\n%s", stderr, stdout)
	}
}

func TestUserDataErrorsNameTheFlag(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--cni", "aws-vpc-cni"}, []string{"--instance-type", "required"}},
		{[]string{"--instance-type", "t3.medium"}, []string{"--agent-url/--agent-sha256", "or choose CNI aws-vpc-cni"}},
		{[]string{"--instance-type", "t3.medium", "--os", "bottlerocket", "--agent-url", "https://a.example/x", "--agent-sha256", strings.Repeat("0", 64)}, []string{"--cni", "bottlerocket"}},
		{[]string{"--instance-type", "t3.medium", "--cni", "aws-vpc-cni", "--os", "windows"}, []string{"--os", "al2023, al2, bottlerocket"}},
		{[]string{"--instance-type", "m4.large", "--cni", "aws-vpc-cni", "--prefix-delegation"}, []string{"--prefix-delegation", "m4.large"}},
		{[]string{"--instance-type", "t3.medium", "--agent-url", "https://a.example/x", "--agent-sha256", "zz"}, []string{"--agent-url/--agent-sha256", "64 hex digits"}},
		{[]string{"--instance-type", "t3.medium", "--cni", "aws-vpc-cni", "--cluster", "bad name"}, []string{"--cluster", "1-100 letters"}},
		{[]string{"--instance-type", "t3.medium", "--cni", "aws-vpc-cni", "--node-label", "team"}, []string{"--node-label", "want KEY=VALUE"}},
		{[]string{"--instance-type", "t3.medium", "--cni", "aws-vpc-cni", "--node-label", "team=a,b"}, []string{"--node-label", "label value"}},
		{[]string{"--instance-type", "t3.medium", "--cni", "aws-vpc-cni", "--node-label", "a=1", "--node-label", "a=2"}, []string{"--node-label", "given twice"}},
		{[]string{"--instance-type", "t3.medium", "--custom-networking", "--agent-url", "https://a.example/x", "--agent-sha256", strings.Repeat("0", 64)}, []string{"--custom-networking", "AWS VPC CNI only", "--cni aws-vpc-cni"}},
	}
	for _, tt := range tests {
		_, _, err := run(t, userDataArgs(t, tt.args...)...)
		if err == nil {
			t.Errorf("%v: no error", tt.args)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q lacks %q", tt.args, err, w)
			}
		}
	}
}
