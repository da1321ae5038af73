package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/eksnet/eksnet/internal/atomicfile"
)

// Result is one bundle Build wrote.
type Result struct {
	Arch string
	// Path is the bundle file (absolute when outDir was).
	Path string
	// SHA256 is the hex digest of the file: what user data verifies.
	SHA256 string
}

// Build compiles ./cmd/eksnet-agent, ./cmd/eksnet-cni and the companion
// plugins (CompanionPackages, at the version go.mod pins) of the source tree
// at root for linux/goarch, in one `go build`, and packs them into
// outDir/FileName(goarch), replacing any older bundle atomically.
//
// The binaries are static (CGO_ENABLED=0): the plugin is exec'd for every
// pod, and a dynamic binary spends 1.1 ms more per exec in the loader; a
// binary linked against the build host's newer glibc would not even start
// on AL2. -trimpath keeps the build machine's paths out, so two checkouts of
// the same commit produce the same bundle. The companions build from go.mod
// and go.sum like every other dependency, so their bytes are as reproducible
// as ours. They are compiled by the toolchain go.mod's toolchain line pins
// (GOTOOLCHAIN set to it, whatever the caller's): the agent runs as root on
// every node, so its standard library is the patched release CI checks with
// govulncheck, not whichever Go the build machine has.
func Build(ctx context.Context, root, goarch, outDir string) (Result, error) {
	if err := CheckArch("architecture", goarch); err != nil {
		return Result{}, fmt.Errorf("build bundle: %w", err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return Result{}, fmt.Errorf("build %s bundle from %s: no go tool on PATH: %w", goarch, root, err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("build %s bundle: output directory: %w", goarch, err)
	}
	work, err := os.MkdirTemp(outDir, ".eksnet-node-build-")
	if err != nil {
		return Result{}, fmt.Errorf("build %s bundle: %w", goarch, err)
	}
	defer os.RemoveAll(work)

	toolchain, err := PinnedToolchain(root)
	if err != nil {
		return Result{}, fmt.Errorf("build %s bundle: %w", goarch, err)
	}
	args := []string{"build", "-trimpath", "-o", work + string(filepath.Separator)}
	args = append(args, BuildPackages()...)
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = root
	// Later entries win in os/exec, so these override the caller's env.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOTOOLCHAIN="+toolchain)
	if out, err := cmd.CombinedOutput(); err != nil {
		return Result{}, fmt.Errorf("go %s for linux/%s in %s: %w\n%s", strings.Join(args, " "), goarch, root, err, out)
	}
	var files []File
	for _, m := range Members {
		data, err := os.ReadFile(filepath.Join(work, m))
		if err != nil {
			return Result{}, fmt.Errorf("build %s bundle: %w", goarch, err)
		}
		files = append(files, File{Name: m, Data: data})
	}

	path := filepath.Join(outDir, FileName(goarch))
	h := sha256.New()
	if err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		return Pack(io.MultiWriter(w, h), files...)
	}); err != nil {
		return Result{}, fmt.Errorf("build %s bundle: %w", goarch, err)
	}
	return Result{Arch: goarch, Path: path, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// BuildPackages are the packages Build compiles, in Members order: ours by
// path relative to the source root, the companions by import path (go.mod
// pins them with `tool` directives). Each builds to its member's name.
func BuildPackages() []string {
	pkgs := []string{"./cmd/" + AgentMember, "./cmd/" + PluginMember}
	for _, m := range Members[2:] {
		pkgs = append(pkgs, CompanionPackages[m])
	}
	return pkgs
}

// PinnedToolchain is the toolchain line of root's go.mod (e.g. go1.27.3),
// the Go release bundles are built with.
func PinnedToolchain(root string) (string, error) {
	path := filepath.Join(root, "go.mod")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the pinned toolchain: %w", err)
	}
	f, err := modfile.Parse(path, data, nil)
	if err != nil {
		return "", fmt.Errorf("reading the pinned toolchain: %w", err)
	}
	if f.Toolchain == nil || f.Toolchain.Name == "" {
		return "", fmt.Errorf("%s has no toolchain line: bundles are built with the Go release it pins (go mod edit -toolchain=goX.Y.Z)", path)
	}
	return f.Toolchain.Name, nil
}
