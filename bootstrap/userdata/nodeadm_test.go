package userdata

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	nodeadm "github.com/awslabs/amazon-eks-ami/nodeadm/api/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

// decodeWithNodeadm decodes a NodeConfig part with nodeadm's own API types
// (github.com/awslabs/amazon-eks-ami/nodeadm/api/v1alpha1, the pseudo-version
// pinned in go.mod) through apimachinery's decoder, as nodeadm's
// internal/api/bridge.DecodeNodeConfig does, but strictly: a field nodeadm's
// types do not have is an error here, where nodeadm would drop it silently
// and the node would boot without the setting.
func decodeWithNodeadm(t *testing.T, body string) (*nodeadm.NodeConfig, error) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := nodeadm.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	codecs := serializer.NewCodecFactory(scheme, serializer.EnableStrict)
	obj, gvk, err := codecs.UniversalDeserializer().Decode([]byte(body), nil, nil)
	if err != nil {
		return nil, err
	}
	nc, ok := obj.(*nodeadm.NodeConfig)
	if !ok || gvk.Kind != "NodeConfig" || gvk.Group != "node.eks.aws" {
		t.Fatalf("decoded %v as %T, want a node.eks.aws NodeConfig", gvk, obj)
	}
	return nc, nil
}

// TestNodeConfigDecodesWithNodeadmTypes is judged by nodeadm's API types:
// every AL2023 golden file and a config with every optional field set decode
// strictly, carry what nodeadm's ValidateNodeConfig requires (name, endpoint,
// CA, CIDR) and the kubelet settings eksnet computed.
func TestNodeConfigDecodesWithNodeadmTypes(t *testing.T) {
	golden, err := filepath.Glob(filepath.Join("testdata", "al2023-*.golden"))
	if err != nil || len(golden) == 0 {
		t.Fatalf("no AL2023 golden files: %v", err)
	}
	userData := map[string]string{}
	for _, g := range golden {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		userData[g] = string(b)
	}
	full := baseConfig(t, OSAL2023, CNIAgent, false)
	full.NodeTaints = []Taint{{Key: "dedicated", Value: "infra", Effect: "NoSchedule"}}
	ud, err := Render(full)
	if err != nil {
		t.Fatal(err)
	}
	userData["rendered with taints"] = ud

	for name, ud := range userData {
		body := nodeConfigPart(t, ud)
		nc, err := decodeWithNodeadm(t, body)
		if err != nil {
			t.Errorf("%s: nodeadm's types reject our NodeConfig: %v", name, err)
			continue
		}
		ours, err := ParseNodeConfig(ud)
		if err != nil {
			t.Fatal(err)
		}
		c := nc.Spec.Cluster
		ca, _ := base64.StdEncoding.DecodeString(ours.Spec.Cluster.CertificateAuthority)
		if c.Name != ours.Spec.Cluster.Name || c.APIServerEndpoint == "" || c.CIDR != ours.Spec.Cluster.CIDR ||
			len(c.CertificateAuthority) == 0 || string(c.CertificateAuthority) != string(ca) {
			t.Errorf("%s: nodeadm reads cluster %+v, want ours %+v", name, c, ours.Spec.Cluster)
		}
		var maxPods int
		if err := json.Unmarshal(nc.Spec.Kubelet.Config["maxPods"].Raw, &maxPods); err != nil || maxPods != ours.Spec.Kubelet.Config.MaxPods {
			t.Errorf("%s: nodeadm reads kubelet maxPods %s (%v), want %d", name, nc.Spec.Kubelet.Config["maxPods"].Raw, err, ours.Spec.Kubelet.Config.MaxPods)
		}
		if len(nc.Spec.Kubelet.Flags) != len(ours.Spec.Kubelet.Flags) {
			t.Errorf("%s: nodeadm reads kubelet flags %q, want %q", name, nc.Spec.Kubelet.Flags, ours.Spec.Kubelet.Flags)
		}
	}
}

// TestNodeadmDecodeIsStrict proves the judge can fail: a field nodeadm's
// types lack (a misspelt one here) is rejected, naming it.
func TestNodeadmDecodeIsStrict(t *testing.T) {
	body := nodeConfigPart(t, mustRender(t, baseConfig(t, OSAL2023, CNIAWSVPC, false)))
	bad := strings.Replace(body, "    cidr:", "    serviceCidr:", 1)
	if bad == body {
		t.Fatal("the NodeConfig has no cidr line to misspell")
	}
	if _, err := decodeWithNodeadm(t, bad); err == nil || !strings.Contains(err.Error(), "serviceCidr") {
		t.Errorf("decoding a NodeConfig with spec.cluster.serviceCidr: %v, want an unknown-field error naming it", err)
	}
}

func nodeConfigPart(t *testing.T, userData string) string {
	t.Helper()
	parts, err := ParseParts(userData)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if p.ContentType == ContentTypeNodeConfig {
			return p.Body
		}
	}
	t.Fatalf("user data has no %s part", ContentTypeNodeConfig)
	return ""
}

func mustRender(t *testing.T, c Config) string {
	t.Helper()
	ud, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	return ud
}

// TestAL2023AgentWaitsForNodeadm: AL2023 agent user data makes the agent
// attach after nodeadm's run marker and mark its ENIs unmanaged; AL2 (no
// nodeadm) does neither.
func TestAL2023AgentWaitsForNodeadm(t *testing.T) {
	for _, os := range []OS{OSAL2023, OSAL2} {
		env := strings.Join(AgentEnv(baseConfig(t, os, CNIAgent, false)), "\n")
		has := strings.Contains(env, "EKSNET_ATTACH_AFTER=/run/nodeadm/init") && strings.Contains(env, "EKSNET_NETWORKD_DIR=/etc/systemd/network")
		if has != (os == OSAL2023) {
			t.Errorf("%s agent.env:\n%s\nwant the nodeadm marker and networkd dir only on AL2023", os, env)
		}
	}
}
