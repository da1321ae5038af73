package stacks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the preset loader as a
// stacks/Pulumi.<env>.yaml: malformed YAML, wrong types, unknown keys or
// fields must be errors naming the stack file, never a panic; a stack it
// loads must be one Validate can judge without panicking, and loading the
// same file twice gives the same answer. Seeds are in
// testdata/fuzz/FuzzLoad; CI runs it with -fuzztime=10s.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("config:\n  aws:region: us-west-2\n  eksnet:clusterName: eksnet-dev\n  eksnet:preset: dev\n"))
	f.Add([]byte("config:\n  aws:region: eu-west-1\n  eksnet:preset: prod\n  eksnet:network:\n    nat: single\n"))
	f.Add([]byte("config:\n  eksnet:preset: staging\n  eksnet:nodeGroups:\n    - name: a\n      instanceTypes: [m5.large]\n"))
	f.Add([]byte("config:\n  eksnet:netwrok: {}\n"))
	f.Add([]byte("config:\n  eksnet:protect:\n    secure: AAAA\n"))
	f.Add([]byte("config: [1, 2"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		path := FilePath(root, "fuzz")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c1, err1 := Load(root, "fuzz")
		c2, err2 := Load(root, "fuzz")
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("loading the same file twice: %v vs %v", err1, err2)
		}
		if err1 != nil {
			if !strings.Contains(err1.Error(), "fuzz") {
				t.Fatalf("error does not name the stack: %v", err1)
			}
			return
		}
		v1, v2 := c1.Validate(), c2.Validate()
		if (v1 == nil) != (v2 == nil) {
			t.Fatalf("Validate differs for one file: %v vs %v", v1, v2)
		}
	})
}
