package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
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

// standInGo puts a go command first on PATH that "builds" each package it
// is given into the -o directory as a file saying GOOS/GOARCH and the
// package, so the command's own work (what it asks the go tool for, the
// packing, the printed lines) is tested without a second real build: the
// real cross-build is tested in bootstrap/bundle (TestBuild reads the ELF
// headers of the binaries it made).
func standInGo(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	script := `#!/bin/sh
[ "$1" = build ] || { echo "stand-in go: only build, got $*" >&2; exit 2; }
shift
out=
while [ $# -gt 0 ]; do
	case $1 in
	-o) out=$2; shift 2 ;;
	-*) shift ;;
	*) printf '%s/%s %s CGO_ENABLED=%s\n' "$GOOS" "$GOARCH" "$1" "$CGO_ENABLED" >"$out/$(basename "$1")"; shift ;;
	esac
done
`
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// TestBundleBuildsFromTree runs the command from this checkout for arm64
// (whatever the host) and checks that the go tool was asked for a static
// linux/arm64 build of every member, that the printed digest is the file's
// and that the printed pulumi lines name the file.
func TestBundleBuildsFromTree(t *testing.T) {
	standInGo(t)
	const arch = "arm64"
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
	files, err := bundle.Unpack(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(bundle.Members) {
		t.Fatalf("bundle holds %d files, want the %d members %v", len(files), len(bundle.Members), bundle.Members)
	}
	for name, f := range files {
		if !strings.HasPrefix(string(f.Data), "linux/"+arch+" ") || !strings.HasSuffix(string(f.Data), " CGO_ENABLED=0\n") {
			t.Errorf("member %s was built as %q, want a static linux/%s build", name, f.Data, arch)
		}
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
