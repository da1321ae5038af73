package userdata

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
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

// agentServer serves body at /eksnet-agent on loopback.
func agentServer(t *testing.T, body []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/eksnet-agent" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/eksnet-agent"
}

func needTools(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip("the install script targets linux amd64/arm64 nodes")
	}
	for _, tool := range []string{"bash", "curl", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (bash .ci/run installs it): %v", tool, err)
		}
	}
}

// TestAgentInstallScriptInstalls runs the rendered script for real: it
// downloads the binary from a loopback server with curl, checks its SHA-256,
// and the resulting files are what systemd and the agent will read.
func TestAgentInstallScriptInstalls(t *testing.T) {
	needTools(t)
	body := []byte("#!/bin/sh\necho eksnet-agent test binary\n")
	sum := sha256.Sum256(body)
	url := agentServer(t, body)
	script := agentScript(t, map[string]AgentBinary{
		runtime.GOARCH: {URL: url, SHA256: hex.EncodeToString(sum[:])},
	})
	root, log, out, err := runAgentScript(t, script, "")
	if err != nil {
		t.Fatalf("install script failed: %v\n%s", err, out)
	}

	got, err := os.ReadFile(filepath.Join(root, AgentBinaryPath))
	if err != nil || string(got) != string(body) {
		t.Fatalf("installed binary = %q, %v; want the served bytes", got, err)
	}
	assertMode(t, filepath.Join(root, AgentBinaryPath), 0o755)
	assertMode(t, filepath.Join(root, AgentEnvFile), 0o600)

	env, _ := os.ReadFile(filepath.Join(root, AgentEnvFile))
	wantEnv := "EKSNET_CLUSTER=dev-eksnet\nEKSNET_MODE=secondary\nEKSNET_MAX_PODS=17\nEKSNET_WARM_IP_TARGET=5\nEKSNET_MINIMUM_IP_TARGET=10\nEKSNET_EXTERNAL_SNAT=false\nEKSNET_SNAT_EXCLUDE_CIDRS=192.168.0.0/16\n"
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
	if leftovers, _ := filepath.Glob(filepath.Join(root, "usr/local/bin/.eksnet-agent.*")); len(leftovers) > 0 {
		t.Errorf("temporary downloads left behind: %v", leftovers)
	}
}

// TestAgentInstallScriptRefuses checks the failures leave nothing installed
// and nothing started: a digest mismatch, a failed download, an architecture
// with no binary, an unsupported machine.
func TestAgentInstallScriptRefuses(t *testing.T) {
	needTools(t)
	body := []byte("tampered binary")
	url := agentServer(t, body)
	good := sha256.Sum256([]byte("the real binary"))
	tests := []struct {
		name     string
		binaries map[string]AgentBinary
		unameM   string
		want     string
	}{
		{"digest mismatch", map[string]AgentBinary{"amd64": {URL: url, SHA256: hex.EncodeToString(good[:])}, "arm64": {URL: url, SHA256: hex.EncodeToString(good[:])}}, "", "not installing"},
		{"download 404", map[string]AgentBinary{"amd64": {URL: url + "-missing", SHA256: hex.EncodeToString(good[:])}, "arm64": {URL: url + "-missing", SHA256: hex.EncodeToString(good[:])}}, "", "404"},
		{"no binary for arm64", map[string]AgentBinary{"amd64": {URL: url, SHA256: hex.EncodeToString(good[:])}}, "aarch64", "no eksnet-agent binary configured for arm64 (configured: amd64)"},
		{"unsupported machine", map[string]AgentBinary{"amd64": {URL: url, SHA256: hex.EncodeToString(good[:])}}, "riscv64", "unsupported architecture riscv64"},
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
			for _, p := range []string{AgentBinaryPath, AgentEnvFile, AgentUnitPath} {
				if _, err := os.Stat(filepath.Join(root, p)); err == nil {
					t.Errorf("%s exists after a failed install", p)
				}
			}
			if leftovers, _ := filepath.Glob(filepath.Join(root, "usr/local/bin/.eksnet-agent.*")); len(leftovers) > 0 {
				t.Errorf("temporary downloads left behind: %v", leftovers)
			}
			if _, err := os.Stat(log); err == nil {
				t.Error("systemctl was called after a failed install")
			}
		})
	}
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
