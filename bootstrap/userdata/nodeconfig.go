package userdata

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"

	"gopkg.in/yaml.v3"
)

// NodeConfig is the subset of nodeadm's node.eks.aws/v1alpha1 NodeConfig that
// eksnet writes for AL2023 nodes. It is exported so infra tests can decode a
// launch template's user data with ParseNodeConfig and check what nodes get.
type NodeConfig struct {
	APIVersion string         `yaml:"apiVersion"`
	Kind       string         `yaml:"kind"`
	Spec       NodeConfigSpec `yaml:"spec"`
}

// NodeConfigSpec is the spec of a NodeConfig.
type NodeConfigSpec struct {
	Cluster ClusterDetails `yaml:"cluster"`
	Kubelet KubeletOptions `yaml:"kubelet"`
}

// ClusterDetails tells nodeadm how to reach and trust the API server without
// calling DescribeCluster.
type ClusterDetails struct {
	Name                 string `yaml:"name"`
	APIServerEndpoint    string `yaml:"apiServerEndpoint"`
	CertificateAuthority string `yaml:"certificateAuthority"`
	// CIDR is the service CIDR; nodeadm derives the cluster DNS from it.
	CIDR string `yaml:"cidr"`
}

// KubeletOptions carries kubelet configuration merged over the AMI defaults.
type KubeletOptions struct {
	Config KubeletConfig `yaml:"config"`
	// Flags are kubelet command-line flags; node labels can only go here.
	Flags []string `yaml:"flags,omitempty"`
}

// KubeletConfig is the part of KubeletConfiguration eksnet sets.
type KubeletConfig struct {
	MaxPods      int               `yaml:"maxPods"`
	KubeReserved map[string]string `yaml:"kubeReserved"`
	// RegisterWithTaints is KubeletConfiguration's registerWithTaints.
	RegisterWithTaints []Taint `yaml:"registerWithTaints,omitempty"`
}

func newNodeConfig(c Config) NodeConfig {
	return NodeConfig{
		APIVersion: "node.eks.aws/v1alpha1",
		Kind:       "NodeConfig",
		Spec: NodeConfigSpec{
			Cluster: ClusterDetails{
				Name:                 c.ClusterName,
				APIServerEndpoint:    c.Endpoint,
				CertificateAuthority: c.CertificateAuthority,
				CIDR:                 c.ServiceCIDR,
			},
			Kubelet: KubeletOptions{
				Config: KubeletConfig{
					MaxPods:            c.MaxPods,
					KubeReserved:       map[string]string{"memory": fmt.Sprintf("%dMi", c.KubeReservedMemoryMiB)},
					RegisterWithTaints: c.NodeTaints,
				},
				Flags: []string{nodeLabelsFlag(nodeLabels(c))},
			},
		},
	}
}

// Part is one decoded MIME part of user data.
type Part struct {
	ContentType string
	Body        string
}

// ParseParts decodes MIME multipart user data (as Render writes for AL2023
// and AL2) into its parts, in order.
func ParseParts(userData string) ([]Part, error) {
	msg, err := mail.ReadMessage(strings.NewReader(userData))
	if err != nil {
		return nil, fmt.Errorf("parsing user data MIME header: %w", err)
	}
	ct := msg.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, fmt.Errorf("parsing user data Content-Type %q: want multipart/mixed with a boundary", ct)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	var parts []Part
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return parts, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parsing user data MIME part %d: %w", len(parts)+1, err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, fmt.Errorf("reading user data MIME part %d: %w", len(parts)+1, err)
		}
		parts = append(parts, Part{ContentType: p.Header.Get("Content-Type"), Body: string(b)})
	}
}

// ParseNodeConfig extracts and decodes the NodeConfig part of AL2023 user data.
func ParseNodeConfig(userData string) (NodeConfig, error) {
	parts, err := ParseParts(userData)
	if err != nil {
		return NodeConfig{}, err
	}
	for _, p := range parts {
		if p.ContentType != ContentTypeNodeConfig {
			continue
		}
		var nc NodeConfig
		if err := yaml.Unmarshal([]byte(p.Body), &nc); err != nil {
			return NodeConfig{}, fmt.Errorf("decoding the %s part: %w", ContentTypeNodeConfig, err)
		}
		return nc, nil
	}
	return NodeConfig{}, fmt.Errorf("user data has no %s part", ContentTypeNodeConfig)
}
