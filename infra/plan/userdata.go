package plan

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/eksnet/eksnet/bootstrap/userdata"
)

var (
	al2MaxPodsRE  = regexp.MustCompile(`--max-pods=(\d+)`)
	brMaxPodsRE   = regexp.MustCompile(`(?m)^max-pods\s*=\s*(\d+)`)
	agentEnvRE    = regexp.MustCompile(`(?m)^(EKSNET_[A-Z0-9_]+)=(.*)$`)
	agentBinaryRE = regexp.MustCompile(`(?m)^(amd64|arm64)\) url='([^']+)' sum='([0-9a-f]{64})'`)
)

// UserDataMaxPods reads kubelet's max pods back from rendered user data:
// the AL2023 NodeConfig, the AL2 bootstrap flag or the Bottlerocket setting.
func UserDataMaxPods(os, ud string) (int, error) {
	switch os {
	case "al2023":
		nc, err := userdata.ParseNodeConfig(ud)
		if err != nil {
			return 0, fmt.Errorf("read max pods from user data: %w", err)
		}
		return nc.Spec.Kubelet.Config.MaxPods, nil
	case "al2":
		return firstInt(al2MaxPodsRE, ud, "--max-pods")
	case "bottlerocket":
		return firstInt(brMaxPodsRE, ud, "settings.kubernetes.max-pods")
	}
	return 0, fmt.Errorf("read max pods from user data: os %q: accepted values are al2023, al2, bottlerocket", os)
}

func firstInt(re *regexp.Regexp, s, what string) (int, error) {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("read max pods from user data: no %s", what)
	}
	return strconv.Atoi(m[1])
}

// UserDataAgent reads the agent install part of rendered user data: the
// binary URL and SHA-256 it verifies, and the agent.env it writes.
func UserDataAgent(ud string) (*Agent, error) {
	parts, err := userdata.ParseParts(ud)
	if err != nil {
		return nil, fmt.Errorf("read agent settings from user data: %w", err)
	}
	for _, p := range parts {
		if !strings.Contains(p.Body, userdata.AgentEnvFile) {
			continue
		}
		a := &Agent{Env: map[string]string{}}
		for _, m := range agentEnvRE.FindAllStringSubmatch(p.Body, -1) {
			a.Env[m[1]] = m[2]
		}
		bins := agentBinaryRE.FindAllStringSubmatch(p.Body, -1)
		if len(bins) != 1 {
			return nil, fmt.Errorf("read agent settings from user data: want one agent binary, found %d", len(bins))
		}
		a.Arch, a.BinaryURL, a.SHA256 = bins[0][1], bins[0][2], bins[0][3]
		return a, nil
	}
	return nil, errors.New("read agent settings from user data: no agent install part")
}
