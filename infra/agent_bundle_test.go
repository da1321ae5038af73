package infra_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/eksnet/eksnet/bootstrap/bundle"
	"github.com/eksnet/eksnet/infra"
)

// TestPlaceholderBundleStopsTheNode runs the placeholder's members: both
// are in a valid, reproducible node bundle, and each prints the
// placeholder message naming the config key and exits 1, which is what a
// node booted from a plan-only stack would see in its journal.
func TestPlaceholderBundleStopsTheNode(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skipf("needs sh: %v", err)
	}
	for _, tt := range []struct{ arch, version string }{{"amd64", "dev"}, {"arm64", "v1.2.3"}, {"amd64", "it's"}} {
		raw, err := infra.PlaceholderBundle(tt.arch, tt.version)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := infra.PlaceholderBundle(tt.arch, tt.version)
		if !bytes.Equal(raw, again) {
			t.Errorf("%s/%s placeholder differs between calls: previews would show a change every time", tt.arch, tt.version)
		}
		if err := bundle.Verify(bytes.NewReader(raw)); err != nil {
			t.Fatalf("%s placeholder: %v", tt.arch, err)
		}
		entries, err := bundle.Unpack(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		for _, m := range bundle.Members {
			p := filepath.Join(dir, m)
			if err := os.WriteFile(p, entries[m].Data, 0o755); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(p)
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Errorf("%s placeholder %s: %v, want exit status 1", tt.arch, m, err)
			}
			if want := infra.PlaceholderMessage(m, tt.arch, tt.version) + "\n"; stderr.String() != want {
				t.Errorf("%s placeholder %s printed %q, want %q", tt.arch, m, stderr.String(), want)
			}
		}
	}
	amd, _ := infra.PlaceholderBundle("amd64", "dev")
	arm, _ := infra.PlaceholderBundle("arm64", "dev")
	if bytes.Equal(amd, arm) {
		t.Error("amd64 and arm64 placeholders are the same bytes")
	}
}
