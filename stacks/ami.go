package stacks

import (
	"fmt"
	"slices"
)

// LastAL2Version is the last Kubernetes version with an EKS-optimized
// Amazon Linux 2 AMI: AWS publishes AL2023 and Bottlerocket AMIs only from
// 1.33 on (Amazon EKS User Guide, "Build a custom Amazon Linux AMI").
const LastAL2Version = "1.32"

// AMIPublished reports whether AWS publishes an EKS-optimized AMI of os
// for Kubernetes version; the error names the node group's os field and
// what to use instead.
func AMIPublished(os, version string) error {
	if os == "al2" && slices.Index(SupportedKubernetesVersions, version) > slices.Index(SupportedKubernetesVersions, LastAL2Version) {
		return fmt.Errorf("os al2: AWS publishes no EKS-optimized Amazon Linux 2 AMI for Kubernetes %s (the last is %s); use al2023 or bottlerocket, or eksnet:kubernetesVersion %s or earlier", version, LastAL2Version, LastAL2Version)
	}
	return nil
}
