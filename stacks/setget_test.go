package stacks

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestSetKeepsModeAndLeavesNoTemporaryFile: Set replaces the stack file
// through internal/atomicfile with the mode the user gave it, and the
// directory pulumi reads holds the stack file alone afterwards.
func TestSetKeepsModeAndLeavesNoTemporaryFile(t *testing.T) {
	root := t.TempDir()
	path := FilePath(root, "dev")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	const stack = "config:\n  aws:region: us-west-2\n  eksnet:clusterName: eksnet-dev\n  eksnet:preset: dev\n"
	if err := os.WriteFile(path, []byte(stack), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Set(root, "dev", Setting{Key: "network.nat", Value: "single"}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode after Set = %v, want -rw-------", st.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"Pulumi.dev.yaml"}) {
		t.Errorf("stack directory after Set holds %v, want only Pulumi.dev.yaml", names)
	}
	if got, err := Get(mustLoad(t, root), "network.nat"); err != nil || got != "single" {
		t.Errorf("network.nat after Set = %q (%v), want single", got, err)
	}
}

func mustLoad(t *testing.T, root string) Config {
	t.Helper()
	cfg, err := Load(root, "dev")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
