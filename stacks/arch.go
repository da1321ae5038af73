package stacks

import (
	"fmt"
	"strings"
)

// Arch returns the CPU architecture of an EC2 instance type, amd64 or
// arm64, from its family name: Graviton families carry a "g" after the
// generation digit (m6g, c7gn, t4g, r8gd) and a1 is the first Graviton.
// GPU families (g4dn, g5) have their "g" before the digit and are amd64.
func Arch(instanceType string) string {
	family, _, _ := strings.Cut(instanceType, ".")
	if family == "a1" {
		return "arm64"
	}
	i := strings.IndexAny(family, "0123456789")
	if i < 0 {
		return "amd64"
	}
	suffix := strings.TrimLeft(family[i:], "0123456789")
	suffix, _, _ = strings.Cut(suffix, "-")
	if strings.Contains(suffix, "g") {
		return "arm64"
	}
	return "amd64"
}

// groupArch returns the one architecture of a node group's types; a
// launch template pins one AMI, so mixed architectures are an error.
func groupArch(field string, types []string) (string, error) {
	arch := ""
	for _, t := range types {
		a := Arch(t)
		if arch != "" && a != arch {
			return "", fmt.Errorf("%s: %s is %s but %s is %s; a node group's instance types must share one architecture (one AMI per launch template)", field, types[0], arch, t, a)
		}
		arch = a
	}
	return arch, nil
}
