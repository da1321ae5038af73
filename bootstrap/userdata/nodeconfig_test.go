package userdata

import (
	"strings"
	"testing"
)

// TestParsePartsAcceptsLFOnly decodes hand-written user data with bare LF line
// ends, as AWS documentation shows it, so infra tests can read either form.
func TestParsePartsAcceptsLFOnly(t *testing.T) {
	ud := strings.Join([]string{
		"MIME-Version: 1.0",
		`Content-Type: multipart/mixed; boundary="//"`,
		"",
		"--//",
		"Content-Type: application/node.eks.aws",
		"",
		"apiVersion: node.eks.aws/v1alpha1",
		"kind: NodeConfig",
		"spec:",
		"  cluster:",
		"    name: docs",
		"  kubelet:",
		"    config:",
		"      maxPods: 29",
		"",
		"--//--",
		"",
	}, "\n")
	nc, err := ParseNodeConfig(ud)
	if err != nil {
		t.Fatal(err)
	}
	if nc.Spec.Cluster.Name != "docs" || nc.Spec.Kubelet.Config.MaxPods != 29 {
		t.Errorf("ParseNodeConfig(LF-only) = %+v, want cluster docs with maxPods 29", nc)
	}
}

func TestParsePartsRejectsNonMultipart(t *testing.T) {
	for _, ud := range []string{"#!/bin/bash\necho hi\n", "Content-Type: text/plain\n\nhello\n", "Content-Type: multipart/mixed\n\n--x--\n"} {
		if parts, err := ParseParts(ud); err == nil {
			t.Errorf("ParseParts(%q) = %v, want an error", ud, parts)
		}
	}
}
