package userdata

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"maps"
	"mime/multipart"
	"net/textproto"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/eksnet/eksnet/bootstrap/maxpods"
)

// Content types of the user-data parts.
const (
	ContentTypeNodeConfig  = "application/node.eks.aws"
	ContentTypeShellScript = `text/x-shellscript; charset="us-ascii"`
	// Boundary is fixed so the same Config always renders the same bytes and
	// the launch template shows no diff on every update.
	Boundary = "==EKSNET-BOUNDARY=="
)

// Render validates c and returns the node user data (plain text; launch
// templates want it base64-encoded, see RenderBase64): MIME multipart for
// AL2023 and AL2, TOML for Bottlerocket, which does not read MIME.
func Render(c Config) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	if c.KubeReservedMemoryMiB == 0 {
		c.KubeReservedMemoryMiB = maxpods.KubeReservedMemoryMiB(c.MaxPods)
	}
	dns, _ := clusterDNS(c.ServiceCIDR) // validated above

	var parts []part
	switch c.OS {
	case OSBottlerocket:
		return renderBottlerocket(c, dns.String()), nil
	case OSAL2023:
		nc, err := yaml.Marshal(newNodeConfig(c))
		if err != nil {
			return "", fmt.Errorf("rendering the AL2023 NodeConfig for cluster %s: %w", c.ClusterName, err)
		}
		parts = append(parts, part{ContentTypeNodeConfig, string(nc)})
		if c.CNI == CNIAgent {
			parts = append(parts, part{ContentTypeShellScript, renderAgentInstall(c)})
		}
	case OSAL2:
		// cloud-init runs the parts in order: the agent must be up before
		// bootstrap.sh starts kubelet.
		if c.CNI == CNIAgent {
			parts = append(parts, part{ContentTypeShellScript, renderAgentInstall(c)})
		}
		parts = append(parts, part{ContentTypeShellScript, renderAL2Bootstrap(c, dns.String())})
	}
	return renderMIME(parts)
}

// RenderBase64 is Render, base64-encoded as EC2 launch templates take it.
func RenderBase64(c Config) (string, error) {
	s, err := Render(c)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

type part struct {
	contentType string
	body        string
}

func renderMIME(parts []part) (string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.SetBoundary(Boundary); err != nil {
		return "", fmt.Errorf("setting MIME boundary %q: %w", Boundary, err)
	}
	fmt.Fprintf(&buf, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=%q\r\n\r\n", Boundary)
	for _, p := range parts {
		if strings.Contains(p.body, Boundary) {
			return "", fmt.Errorf("rendering user data: a %s part contains the MIME boundary %q", p.contentType, Boundary)
		}
		pw, err := w.CreatePart(textproto.MIMEHeader{"Content-Type": {p.contentType}})
		if err != nil {
			return "", fmt.Errorf("writing %s MIME part: %w", p.contentType, err)
		}
		if _, err := pw.Write([]byte(p.body)); err != nil {
			return "", fmt.Errorf("writing %s MIME part: %w", p.contentType, err)
		}
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("closing MIME user data: %w", err)
	}
	return buf.String(), nil
}

// renderAL2Bootstrap calls the AL2 AMI's bootstrap.sh. --use-max-pods false
// stops it writing its own table's value; kubelet's --max-pods flag then wins
// over the config file. Values are validated to need no shell quoting beyond
// single quotes.
func renderAL2Bootstrap(c Config, dns string) string {
	return fmt.Sprintf(`#!/bin/bash
set -euo pipefail
/etc/eks/bootstrap.sh '%s' \
  --apiserver-endpoint '%s' \
  --b64-cluster-ca '%s' \
  --dns-cluster-ip '%s' \
  --use-max-pods false \
  --kubelet-extra-args '%s'
`, c.ClusterName, c.Endpoint, c.CertificateAuthority, dns, strings.Join(slices.DeleteFunc([]string{
		fmt.Sprintf("--max-pods=%d", c.MaxPods), nodeLabelsFlag(nodeLabels(c)), registerWithTaintsFlag(c.NodeTaints),
	}, func(s string) bool { return s == "" }), " "))
}

// renderBottlerocket writes Bottlerocket settings TOML; max-pods must be an
// integer, not a string, or the node rejects its settings.
func renderBottlerocket(c Config, dns string) string {
	return fmt.Sprintf(`[settings.kubernetes]
cluster-name = %q
api-server = %q
cluster-certificate = %q
cluster-dns-ip = %q
max-pods = %d

[settings.kubernetes.kube-reserved]
memory = "%dMi"

[settings.kubernetes.node-labels]
%s%s`, c.ClusterName, c.Endpoint, c.CertificateAuthority, dns, c.MaxPods, c.KubeReservedMemoryMiB, tomlLabels(nodeLabels(c)), tomlTaints(c.NodeTaints))
}

// tomlLabels renders labels as TOML key/value lines; keys hold '/' and '.'
// so they are quoted.
func tomlLabels(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Fprintf(&b, "%q = %q\n", k, labels[k])
	}
	return b.String()
}
