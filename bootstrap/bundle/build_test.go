package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/cniconf"
	"golang.org/x/mod/modfile"
)

// TestBuild builds the real agent and plugin for one architecture (the
// host's, whose standard library is most likely cached) and checks what a
// node gets: a valid bundle whose members are static linux ELF binaries of
// that architecture, built with -trimpath, and a digest that matches the file.
func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the node bundle's four binaries (minutes with a cold build cache)")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("needs the go tool: %v", err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatalf("source root %s: %v", root, err)
	}
	mf, err := modfile.Parse("go.mod", gomod, nil)
	if err != nil || mf.Toolchain == nil {
		t.Fatalf("go.mod: %v, want a toolchain line", err)
	}
	toolchain := mf.Toolchain.Name
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
		wantPath := "github.com/eksnet/eksnet/cmd/" + m
		if pkg, ok := CompanionPackages[m]; ok {
			wantPath = pkg
			// A tool built in our module records the plugins module as
			// its main module, at the version go.mod pins.
			if info.Main.Path != CNIPluginsModule || info.Main.Version != CNIPluginsVersion {
				t.Errorf("%s built from %s %q, want %s %s", m, info.Main.Path, info.Main.Version, CNIPluginsModule, CNIPluginsVersion)
			}
		}
		if info.Path != wantPath || settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" ||
			settings["GOOS"] != "linux" || settings["GOARCH"] != arch {
			t.Errorf("%s built as %s with %v; want %s, CGO_ENABLED=0, -trimpath, linux/%s", m, info.Path, settings, wantPath, arch)
		}
		if info.GoVersion != toolchain {
			t.Errorf("%s compiled by %s, want go.mod's pinned toolchain %s", m, info.GoVersion, toolchain)
		}
		if bytes.Contains(data, []byte(root+string(filepath.Separator))) {
			t.Errorf("%s contains the build machine's source path %s despite -trimpath", m, root)
		}
	}
	if arch == runtime.GOARCH && runtime.GOOS == "linux" {
		checkInstallFindsPlugin(t, entries)
	}
}

// checkInstallFindsPlugin unpacks the bundle as user data does (all
// members side by side) and runs the unit's ExecStartPre, `eksnet-agent
// install`, into scratch directories: it must find eksnet-cni and the
// companion plugins beside itself and install them, each answering CNI
// VERSION, and the conflist written over that bin dir must chain portmap.
// This is the contract whose absence left every node NotReady.
func checkInstallFindsPlugin(t *testing.T, entries map[string]Entry) {
	t.Helper()
	dir := t.TempDir()
	for _, m := range Members {
		if err := os.WriteFile(filepath.Join(dir, m), entries[m].Data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	binDir, confDir := filepath.Join(dir, "opt-cni-bin"), filepath.Join(dir, "etc-cni-net.d")
	install := exec.Command(filepath.Join(dir, AgentMember), "install", "--cluster", "bundle-test", "--cni-bin-dir", binDir, "--cni-conf-dir", confDir)
	install.Env = []string{"PATH=" + os.Getenv("PATH")} // no EKSNET_* from the test's environment
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("eksnet-agent install from the unpacked bundle: %v\n%s", err, out)
	}
	for _, m := range Members[1:] {
		installed, err := os.ReadFile(filepath.Join(binDir, m))
		if err != nil || !bytes.Equal(installed, entries[m].Data) {
			t.Fatalf("eksnet-agent install put %d bytes (%v) in %s/%s, want the bundle's %s", len(installed), err, binDir, m, m)
		}
		version := exec.Command(filepath.Join(binDir, m))
		version.Env = []string{"CNI_COMMAND=VERSION"}
		version.Stdin = strings.NewReader(`{"cniVersion":"1.0.0"}`)
		out, err := version.Output()
		if err != nil || !strings.Contains(string(out), `"supportedVersions"`) {
			t.Errorf("installed %s VERSION: %s, %v", m, out, err)
		}
	}
	// What `eksnet-agent run` writes once it serves, over the bin dir the
	// install filled: portmap is there, so the conflist chains it.
	c := cniconf.Config{ConfDir: confDir, BinDir: binDir, PluginSource: filepath.Join(dir, PluginMember),
		NetworkName: cniconf.DefaultNetworkName, SocketPath: "/run/eksnet/agent.sock", VethPrefix: cniconf.DefaultVethPrefix}
	if err := cniconf.Install(c); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(confDir, cniconf.ConflistName))
	if err != nil {
		t.Fatal(err)
	}
	var list cniconf.Conflist
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Plugins) != 2 || list.Plugins[0].Type != PluginMember || list.Plugins[1].Type != "portmap" || !list.Plugins[1].Capabilities["portMappings"] {
		t.Errorf("conflist over the installed bin dir:\n%s\nwant eksnet-cni then portmap with the portMappings capability", raw)
	}
}

// TestPinnedPluginsVersion: go.mod pins containernetworking/plugins at
// CNIPluginsVersion and names every companion package as a tool, so Build
// (which compiles what go.mod says) and the constant (which the docs and the
// simulation's Kubernetes tier use) cannot drift apart.
func TestPinnedPluginsVersion(t *testing.T) {
	path := filepath.Join("..", "..", "go.mod")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse(path, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, r := range f.Require {
		if r.Mod.Path == CNIPluginsModule {
			got = r.Mod.Version
		}
	}
	if got != CNIPluginsVersion {
		t.Errorf("go.mod requires %s %q, want CNIPluginsVersion %s", CNIPluginsModule, got, CNIPluginsVersion)
	}
	var tools []string
	for _, tl := range f.Tool {
		tools = append(tools, tl.Path)
	}
	for _, m := range cniconf.CompanionPlugins {
		pkg, ok := CompanionPackages[m]
		if !ok {
			t.Errorf("companion plugin %s has no package in CompanionPackages", m)
			continue
		}
		if !slices.Contains(tools, pkg) {
			t.Errorf("go.mod has no `tool %s` (tools: %v): Build could not compile %s at the pinned version", pkg, tools, m)
		}
	}
	if want := append([]string{AgentMember, PluginMember}, cniconf.CompanionPlugins...); !slices.Equal(Members, want) {
		t.Errorf("Members %v, want %v", Members, want)
	}
}

func TestBuildRejectsArch(t *testing.T) {
	_, err := Build(context.Background(), t.TempDir(), "x86_64", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "amd64, arm64") {
		t.Fatalf("Build(x86_64) = %v, want an error listing amd64, arm64", err)
	}
}
