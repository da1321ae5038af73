package userdata

import (
	"fmt"
	"slices"
	"strings"
)

// ArchPlaceholder in an agent URL stands for the GOARCH (amd64, arm64), so
// one flag can name the node bundle of every architecture (`eksnet bundle`
// writes eksnet-node-linux-{arch}.tar.gz).
const ArchPlaceholder = "{arch}"

// AgentBinaries builds Config.Agent.Binaries from a URL (with ArchPlaceholder
// when several architectures are given) and digests written "ARCH=HEX" or a
// bare "HEX" (amd64), as the CLI takes them. A URL without the placeholder
// can serve one architecture only: two bundles cannot share one download.
func AgentBinaries(urlTemplate string, sha256s []string) (map[string]AgentBinary, error) {
	if urlTemplate == "" && len(sha256s) == 0 {
		return nil, nil
	}
	if urlTemplate == "" {
		return nil, &FieldError{"Agent.Binaries", strings.Join(sha256s, ","), "SHA-256 digests given without a URL; give the node bundle URL too"}
	}
	if len(sha256s) == 0 {
		return nil, &FieldError{"Agent.Binaries", urlTemplate, "URL given without a SHA-256; give ARCH=HEX for each architecture (" + strings.Join(Architectures, ", ") + ")"}
	}
	out := map[string]AgentBinary{}
	for _, s := range sha256s {
		arch, sum, ok := strings.Cut(s, "=")
		if !ok {
			arch, sum = "amd64", s
		}
		if !slices.Contains(Architectures, arch) {
			return nil, &FieldError{"Agent.Binaries", s, fmt.Sprintf("architecture %q: want ARCH=HEX with ARCH one of %s", arch, strings.Join(Architectures, ", "))}
		}
		if _, dup := out[arch]; dup {
			return nil, &FieldError{"Agent.Binaries", s, fmt.Sprintf("a second SHA-256 for %s; want one per architecture", arch)}
		}
		out[arch] = AgentBinary{URL: strings.ReplaceAll(urlTemplate, ArchPlaceholder, arch), SHA256: sum}
	}
	if len(out) > 1 && !strings.Contains(urlTemplate, ArchPlaceholder) {
		return nil, &FieldError{"Agent.Binaries", urlTemplate, fmt.Sprintf("digests for %d architectures but one URL: put %s in the URL where the architecture goes", len(out), ArchPlaceholder)}
	}
	return out, nil
}
