package kube

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReadUserData reads the kubelet settings out of every golden user
// data the renderer is held to, as each OS's bootstrap reads it.
func TestReadUserData(t *testing.T) {
	for _, c := range []struct {
		file, os string
		maxPods  int
		dns      string
		label    string
		// reserved is the kube-reserved memory user data sets; on AL2
		// bootstrap.sh computes it itself, so none is in user data.
		reserved string
	}{
		{"al2023-agent-secondary.golden", "al2023", 17, "172.20.0.10", "eksnet.io/cni=agent", "442Mi"},
		{"al2-agent-secondary.golden", "al2", 17, "172.20.0.10", "eksnet.io/cni=agent", ""},
		{"bottlerocket-aws-vpc-cni-secondary.golden", "bottlerocket", 17, "172.20.0.10", "eksnet.io/cni=aws-vpc-cni", "442Mi"},
	} {
		t.Run(c.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", "bootstrap", "userdata", "testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			s, err := ReadUserData(c.os, string(b))
			if err != nil {
				t.Fatal(err)
			}
			if s.MaxPods() != c.maxPods {
				t.Errorf("maxPods %d, want %d (config %v)", s.MaxPods(), c.maxPods, s.Config)
			}
			if dns, _ := s.Config["clusterDNS"].([]any); len(dns) != 1 || dns[0] != c.dns {
				t.Errorf("clusterDNS %v, want [%s]", s.Config["clusterDNS"], c.dns)
			}
			r, _ := s.Config["kubeReserved"].(map[string]any)
			if got, _ := r["memory"].(string); got != c.reserved {
				t.Errorf("kubeReserved %v, want memory %q", s.Config["kubeReserved"], c.reserved)
			}
			k, v, _ := cut(c.label)
			if got := s.Labels()[k]; got != v {
				t.Errorf("label %s = %q, want %q (flags %v)", k, got, v, s.Flags)
			}
		})
	}
	if _, err := ReadUserData("windows", ""); err == nil {
		t.Error("ReadUserData(windows) = nil error")
	}
}

func cut(kv string) (string, string, bool) {
	for i := range kv {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}
