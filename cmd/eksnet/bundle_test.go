package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/bootstrap/bundle"
)

func TestBundleRejectsArch(t *testing.T) {
	_, _, err := run(t, "bundle", "--arch", "x86_64", "-o", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "--arch") || !strings.Contains(err.Error(), "amd64, arm64") {
		t.Fatalf("bundle --arch x86_64: %v, want an error naming --arch and amd64, arm64", err)
	}
}

// TestBundleBuildsFromTree runs the command from this checkout for the
// host's architecture and checks that the printed digest is the file's and
// the printed pulumi lines name the file (the packing and build details are
// tested in bootstrap/bundle).
func TestBundleBuildsFromTree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds eksnet-agent and eksnet-cni")
	}
	arch := runtime.GOARCH
	if !slices.Contains(bundle.Architectures, arch) {
		t.Skipf("host architecture %s has no bundle", arch)
	}
	out := t.TempDir()
	stdout, stderr, err := run(t, "bundle", "--arch", arch, "--out-dir", out, "--stack", "dev")
	if err != nil {
		t.Fatalf("eksnet bundle: %v\n%s", err, stderr)
	}
	path := filepath.Join(out, bundle.FileName(arch))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	hexSum := hex.EncodeToString(sum[:])
	for _, want := range []string{
		hexSum + "  " + path + "\n",
		"pulumi config set --path eksnet:cni.agent." + arch + "Path " + path + " -s dev\n",
		"pulumi config set --path eksnet:cni.agent." + arch + "Sha256 " + hexSum + " -s dev\n",
		"--agent-sha256 " + arch + "=" + hexSum,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}
