package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBuild builds the real agent and plugin for one architecture (the
// host's, whose standard library is most likely cached) and checks what a
// node gets: a valid bundle whose members are static linux ELF binaries of
// that architecture, built with -trimpath, and a digest that matches the file.
func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds eksnet-agent and eksnet-cni (30-60 s cold)")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("needs the go tool: %v", err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("source root %s: %v", root, err)
	}
	arch := runtime.GOARCH
	if !slices.Contains(Architectures, arch) {
		arch = "amd64"
	}
	out := filepath.Join(t.TempDir(), "bin")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	r, err := Build(ctx, root, arch, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %v", r.Path, time.Since(start).Round(time.Millisecond))

	if r.Arch != arch || r.Path != filepath.Join(out, FileName(arch)) {
		t.Errorf("result %+v, want arch %s at %s", r, arch, filepath.Join(out, FileName(arch)))
	}
	raw, err := os.ReadFile(r.Path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if hex.EncodeToString(sum[:]) != r.SHA256 {
		t.Errorf("result SHA-256 %s, file hashes to %x", r.SHA256, sum)
	}
	if err := Verify(bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(out, ".eksnet-node*")); len(left) > 0 {
		t.Errorf("temporary files left in %s: %v", out, left)
	}

	entries, err := Unpack(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	for _, m := range Members {
		data := entries[m].Data
		f, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s is not ELF: %v", m, err)
		}
		if f.Machine != machine {
			t.Errorf("%s machine %v, want %v", m, f.Machine, machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s has a %v program header: dynamically linked, want static", m, p.Type)
			}
		}
		libs, _ := f.ImportedLibraries()
		if len(libs) > 0 {
			t.Errorf("%s needs shared libraries %v, want none", m, libs)
		}
		info, err := buildinfo.Read(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s build info: %v", m, err)
		}
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		if info.Path != "github.com/eksnet/eksnet/cmd/"+m || settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" ||
			settings["GOOS"] != "linux" || settings["GOARCH"] != arch {
			t.Errorf("%s built as %s with %v; want cmd/%s, CGO_ENABLED=0, -trimpath, linux/%s", m, info.Path, settings, m, arch)
		}
		if bytes.Contains(data, []byte(root+string(filepath.Separator))) {
			t.Errorf("%s contains the build machine's source path %s despite -trimpath", m, root)
		}
	}
}

func TestBuildRejectsArch(t *testing.T) {
	_, err := Build(context.Background(), t.TempDir(), "x86_64", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "amd64, arm64") {
		t.Fatalf("Build(x86_64) = %v, want an error listing amd64, arm64", err)
	}
}
