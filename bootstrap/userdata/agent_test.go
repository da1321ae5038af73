package userdata

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/bootstrap/bundle"
)

// agentScript renders the agent install part for binaries and returns it.
func agentScript(t *testing.T, binaries map[string]AgentBinary) string {
	t.Helper()
	c := baseConfig(t, OSAL2023, CNIAgent, false)
	c.Agent.Binaries = binaries
	ud, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := ParseParts(ud)
	if err != nil {
		t.Fatal(err)
	}
	return parts[1].Body
}

// runAgentScript runs script with bash, installing under a scratch root, with
// a PATH whose systemctl records its arguments (the node's systemd is not ours
// to touch) and, when unameM is set, whose uname reports that machine.
func runAgentScript(t *testing.T, script, unameM string) (root, systemctlLog string, out []byte, err error) {
	t.Helper()
	root = t.TempDir()
	bin := t.TempDir()
	systemctlLog = filepath.Join(bin, "systemctl.log")
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("systemctl", "#!/bin/sh\necho \"$*\" >> '"+systemctlLog+"'\n")
	if unameM != "" {
		write("uname", "#!/bin/sh\necho "+unameM+"\n")
	}
	cmd := exec.Command("bash", "-s")
	cmd.Stdin = strings.NewReader(script)
	cmd.Env = append(os.Environ(), "EKSNET_ROOT="+root, "PATH="+bin+":"+os.Getenv("PATH"))
	out, err = cmd.CombinedOutput()
	return root, systemctlLog, out, err
}

// bundleServer serves each body at /NAME on loopback and returns the base URL.
func bundleServer(t *testing.T, bodies map[string][]byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := bodies[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// packBundle packs files with the real packer, failing the test on error.
func packBundle(t *testing.T, files ...bundle.File) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := bundle.Pack(&buf, files...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// tmpLeftovers lists the script's scratch directories left under root.
func tmpLeftovers(root string) []string {
	left, _ := filepath.Glob(filepath.Join(root, "usr/local/bin/.eksnet-node.*"))
	return left
}

func needTools(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip("the install script targets linux amd64/arm64 nodes")
	}
	for _, tool := range []string{"bash", "curl", "sha256sum", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (bash .ci/run installs it): %v", tool, err)
		}
	}
}

// TestAgentInstallScriptInstalls runs the rendered script for real: it
// downloads a node bundle made by the real packer from a loopback server
// with curl, checks its SHA-256, unpacks it, and the resulting files are
// what systemd and the agent will read: both binaries side by side (the
// agent's install copies the plugin from beside itself).
func TestAgentInstallScriptInstalls(t *testing.T) {
	needTools(t)
	want := map[string][]byte{}
	var files []bundle.File
	for _, m := range bundle.Members {
		data := []byte("#!/bin/sh\necho " + m + " test binary\n")
		want[NodeBinDir+"/"+m] = data
		files = append(files, bundle.File{Name: m, Data: data})
	}
	body := packBundle(t, files...)
	base := bundleServer(t, map[string][]byte{"node.tar.gz": body})
	script := agentScript(t, map[string]AgentBinary{
		runtime.GOARCH: {URL: base + "/node.tar.gz", SHA256: sha(body)},
	})
	root, log, out, err := runAgentScript(t, script, "")
	if err != nil {
		t.Fatalf("install script failed: %v\n%s", err, out)
	}

	for path, want := range want {
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil || string(got) != string(want) {
			t.Fatalf("installed %s = %q, %v; want the bundle's member %q", path, got, err, want)
		}
		assertMode(t, filepath.Join(root, path), 0o755)
		// --touch: the install time, not the bundle's fixed 2020 mtime.
		if fi, err := os.Stat(filepath.Join(root, path)); err != nil {
			t.Error(err)
		} else if time.Since(fi.ModTime()) > time.Hour {
			t.Errorf("%s mtime %v, want the install time", path, fi.ModTime())
		}
		// It runs: the installed file is the executable, not a copy of the archive.
		if run, err := exec.Command(filepath.Join(root, path)).Output(); err != nil || !strings.Contains(string(run), "test") {
			t.Errorf("running installed %s: %q, %v", path, run, err)
		}
	}
	if names, _ := os.ReadDir(filepath.Join(root, NodeBinDir)); len(names) != len(bundle.Members) {
		t.Errorf("%s holds %v, want exactly %v", NodeBinDir, names, bundle.Members)
	}
	assertMode(t, filepath.Join(root, AgentEnvFile), 0o600)

	env, _ := os.ReadFile(filepath.Join(root, AgentEnvFile))
	wantEnv := "EKSNET_CLUSTER=dev-eksnet\nEKSNET_MODE=secondary\nEKSNET_MAX_PODS=17\nEKSNET_WARM_IP_TARGET=5\nEKSNET_MINIMUM_IP_TARGET=10\nEKSNET_ATTACH_AFTER=/run/nodeadm/init\nEKSNET_NETWORKD_DIR=/etc/systemd/network\nEKSNET_EXTERNAL_SNAT=false\nEKSNET_SNAT_EXCLUDE_CIDRS=192.168.0.0/16\n"
	if string(env) != wantEnv {
		t.Errorf("agent.env =\n%s\nwant\n%s", env, wantEnv)
	}
	unit, _ := os.ReadFile(filepath.Join(root, AgentUnitPath))
	if string(unit) != agentUnit {
		t.Errorf("unit file =\n%s\nwant\n%s", unit, agentUnit)
	}
	dropIn, _ := os.ReadFile(filepath.Join(root, kubeletDropInPath))
	if string(dropIn) != kubeletDropIn {
		t.Errorf("kubelet drop-in =\n%s\nwant\n%s", dropIn, kubeletDropIn)
	}
	calls, _ := os.ReadFile(log)
	if string(calls) != "daemon-reload\nenable --now eksnet-agent.service\n" {
		t.Errorf("systemctl calls = %q, want daemon-reload then enable --now eksnet-agent.service", calls)
	}
	if left := tmpLeftovers(root); len(left) > 0 {
		t.Errorf("temporary downloads left behind: %v", left)
	}
}

// TestAgentInstallScriptRefuses checks the failures leave nothing installed
// and nothing started: a digest mismatch, a failed download, a bundle
// missing the plugin, a bare binary instead of a bundle, a member that is a
// symlink, not executable or named with "..", an architecture with no bundle, an unsupported
// machine.
func TestAgentInstallScriptRefuses(t *testing.T) {
	needTools(t)
	// members is every bundle member but those named in drop.
	members := func(drop ...string) []bundle.File {
		var fs []bundle.File
		for _, m := range bundle.Members {
			if !slices.Contains(drop, m) {
				fs = append(fs, bundle.File{Name: m, Data: []byte("#!/bin/sh\nexit 0\n")})
			}
		}
		return fs
	}
	good := packBundle(t, members()...)
	bodies := map[string][]byte{
		"good":        good,
		"agent-only":  packBundle(t, members(bundle.PluginMember, "loopback", "portmap")...),
		"two-binary":  packBundle(t, members("loopback", "portmap")...),
		"bare-binary": []byte("\x7fELF the agent binary alone, as nodes used to get it"),
		"symlink":     rawBundle(t, members(bundle.PluginMember), &tar.Header{Typeflag: tar.TypeSymlink, Name: bundle.PluginMember, Linkname: "/bin/sh", Mode: 0o777}),
		"not-exec":    rawBundle(t, members(bundle.PluginMember), &tar.Header{Typeflag: tar.TypeReg, Name: bundle.PluginMember, Mode: 0o644, Size: 3}),
		"dot-dot":     rawBundle(t, members(bundle.AgentMember), &tar.Header{Typeflag: tar.TypeReg, Name: "../" + bundle.AgentMember, Mode: 0o755, Size: 3}),
	}
	base := bundleServer(t, bodies)
	at := func(name string) map[string]AgentBinary {
		b := AgentBinary{URL: base + "/" + name, SHA256: sha(bodies[name])}
		return map[string]AgentBinary{"amd64": b, "arm64": b}
	}
	tests := []struct {
		name     string
		binaries map[string]AgentBinary
		unameM   string
		want     string
	}{
		{"digest mismatch", map[string]AgentBinary{"amd64": {URL: base + "/good", SHA256: sha([]byte("another bundle"))}, "arm64": {URL: base + "/good", SHA256: sha([]byte("another bundle"))}}, "", "not installing"},
		{"download 404", map[string]AgentBinary{"amd64": {URL: base + "/missing", SHA256: sha(good)}, "arm64": {URL: base + "/missing", SHA256: sha(good)}}, "", "404"},
		{"bundle without the plugin", at("agent-only"), "", "is not a node bundle holding eksnet-agent eksnet-cni loopback portmap (build it with eksnet bundle): not installing"},
		{"bundle without loopback and portmap", at("two-binary"), "", "is not a node bundle holding eksnet-agent eksnet-cni loopback portmap"},
		{"bare binary", at("bare-binary"), "", "is not a node bundle holding eksnet-agent eksnet-cni"},
		{"plugin is a symlink", at("symlink"), "", "eksnet-cni in " + base + "/symlink is not an executable regular file"},
		{"plugin not executable", at("not-exec"), "", "eksnet-cni in " + base + "/not-exec is not an executable regular file"},
		{"agent outside the directory", at("dot-dot"), "", "is not a node bundle holding eksnet-agent eksnet-cni"},
		{"no bundle for arm64", map[string]AgentBinary{"amd64": {URL: base + "/good", SHA256: sha(good)}}, "aarch64", "no eksnet node bundle configured for arm64 (configured: amd64)"},
		{"unsupported machine", map[string]AgentBinary{"amd64": {URL: base + "/good", SHA256: sha(good)}}, "riscv64", "unsupported architecture riscv64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, log, out, err := runAgentScript(t, agentScript(t, tt.binaries), tt.unameM)
			if err == nil {
				t.Fatalf("install script succeeded, want a failure:\n%s", out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("output %q, want it to say %q", out, tt.want)
			}
			for _, p := range []string{AgentBinaryPath, PluginBinaryPath, NodeBinDir + "/loopback", NodeBinDir + "/portmap", AgentEnvFile, AgentUnitPath, kubeletDropInPath} {
				if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
					t.Errorf("%s exists after a failed install", p)
				}
			}
			if left := tmpLeftovers(root); len(left) > 0 {
				t.Errorf("temporary downloads left behind: %v", left)
			}
			if _, err := os.Stat(log); err == nil {
				t.Error("systemctl was called after a failed install")
			}
		})
	}
}

// rawBundle writes a gzip'd tar with regular members fs and one more entry
// hdr, shaped as the packer never would (a link, a non-executable file), to
// check the script's own checks rather than the packer's.
func rawBundle(t *testing.T, fs []bundle.File, hdr *tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range fs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.Name, Mode: 0o755, Size: int64(len(f.Data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(bytes.Repeat([]byte("x"), int(hdr.Size))); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s mode %v, want %v", path, fi.Mode().Perm(), want)
	}
}

// TestAgentInstallScriptNeedsTar: on a node without tar the script stops
// before it downloads or creates anything, saying what is missing.
func TestAgentInstallScriptNeedsTar(t *testing.T) {
	needTools(t)
	bashPath, _ := exec.LookPath("bash")
	root, bin := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "uname"), []byte("#!/bin/sh\necho x86_64\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := agentScript(t, map[string]AgentBinary{"amd64": {URL: "http://127.0.0.1:1/never-fetched", SHA256: sha([]byte("x"))}})
	cmd := exec.Command(bashPath, "-s")
	cmd.Stdin = strings.NewReader(script)
	cmd.Env = []string{"EKSNET_ROOT=" + root, "PATH=" + bin} // uname only: no tar, no curl
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "eksnet: tar not found") {
		t.Fatalf("script without tar: %v\n%s\nwant a failure saying tar is not found", err, out)
	}
	if entries, _ := os.ReadDir(root); len(entries) > 0 {
		t.Errorf("script without tar created %v under the root", entries)
	}
}
