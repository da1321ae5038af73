package userdata

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNodeLabelsFollowKubeletsRule is judged by kubelet's own --node-labels
// rule at v1.34.2 (testdata/kubelet, sources in its header): every label
// kubelet allows is accepted, every key it refuses is rejected before any
// node boots (kubelet would exit and the node never join), and keys
// outside the Kubernetes namespaces pass.
func TestNodeLabelsFollowKubeletsRule(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "kubelet", "node-labels-v1.34.2.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var allowed, allowedNS, restricted []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, v, ok := strings.Cut(sc.Text(), "\t")
		switch {
		case strings.HasPrefix(kind, "#") || kind == "":
		case !ok:
			t.Fatalf("bad line %q", sc.Text())
		case kind == "allowed":
			allowed = append(allowed, v)
		case kind == "allowed-namespace":
			allowedNS = append(allowedNS, v)
		case kind == "restricted":
			restricted = append(restricted, v)
		}
	}
	if len(allowed) == 0 || len(allowedNS) == 0 || len(restricted) == 0 {
		t.Fatal("testdata lists nothing")
	}
	accept := append([]string{"example.com/role", "team", "eksnet.io/pool"}, allowed...)
	for _, ns := range allowedNS {
		accept = append(accept, ns+"/x", "a."+ns+"/x")
	}
	var reject []string
	for _, ns := range restricted {
		reject = append(reject, ns+"/role", "node-role."+ns+"/worker", "sub."+ns+"/x")
	}
	for _, k := range accept {
		if err := ValidateNodeLabels(map[string]string{k: "v"}); err != nil {
			t.Errorf("kubelet sets %s itself, ValidateNodeLabels = %v", k, err)
		}
	}
	for _, k := range reject {
		err := ValidateNodeLabels(map[string]string{k: "v"})
		if err == nil || !strings.Contains(err.Error(), "kubelet refuses") {
			t.Errorf("kubelet refuses %s, ValidateNodeLabels = %v", k, err)
		}
	}
}
