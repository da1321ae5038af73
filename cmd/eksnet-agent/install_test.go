package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/cniconf"
	"github.com/eksnet/eksnet/cni-agent/datapath/netnstest"
	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/cni-agent/snat"
)

// readinessAgent is an agent that only answers Status.
type readinessAgent struct{ ready atomic.Bool }

func (r *readinessAgent) Allocate(context.Context, rpc.AllocateRequest) (rpc.Allocation, error) {
	return rpc.Allocation{}, rpc.Errorf(rpc.CodeNotReady, "starting")
}
func (r *readinessAgent) Release(context.Context, rpc.Key) (*rpc.Allocation, error) { return nil, nil }
func (r *readinessAgent) Check(context.Context, rpc.Key) (rpc.Allocation, error) {
	return rpc.Allocation{}, rpc.Errorf(rpc.CodeNotFound, "none")
}
func (r *readinessAgent) List(context.Context) ([]rpc.Allocation, error) { return nil, nil }
func (r *readinessAgent) Status(context.Context) (rpc.Status, error) {
	if r.ready.Load() {
		return rpc.Status{Ready: true, Free: 1}, nil
	}
	return rpc.Status{Reason: "warm pool empty"}, nil
}

type installDirs struct {
	conf, bin, socket, plugin, envFile string
}

func newInstallTestDirs(t *testing.T) installDirs {
	dir := t.TempDir()
	d := installDirs{
		conf: filepath.Join(dir, "net.d"), bin: filepath.Join(dir, "bin"),
		socket: filepath.Join(dir, "run", "agent.sock"), plugin: filepath.Join(dir, "eksnet-cni"),
		envFile: filepath.Join(dir, "agent.env"),
	}
	if err := os.WriteFile(d.plugin, []byte("plugin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.envFile, []byte("EKSNET_CLUSTER=test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func runInstallCmd(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := runWith(ctx, args, &app{stdout: &out, stderr: &out, getenv: func(string) string { return "" }})
	return out.String(), err
}

func (d installDirs) installArgs(wait string) []string {
	return []string{"install", "--config-file", d.envFile, "--cni-conf-dir", d.conf, "--cni-bin-dir", d.bin,
		"--socket-path", d.socket, "--cni-plugin-source", d.plugin, "--wait", wait, "--mtu", "1500"}
}

func TestInstallWaitsUntilTheAgentIsReady(t *testing.T) {
	d := newInstallTestDirs(t)
	agent := &readinessAgent{}
	ln, err := rpc.Listen(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go (&rpc.Server{Handler: agent}).Serve(ctx, ln)

	done := make(chan error, 1)
	go func() { _, err := runInstallCmd(t, ctx, d.installArgs("20s")...); done <- err }()
	conflist := filepath.Join(d.conf, cniconf.ConflistName)
	time.Sleep(1200 * time.Millisecond)
	if _, err := os.Stat(conflist); !os.IsNotExist(err) {
		t.Fatalf("conflist written before the agent was ready (stat err %v)", err)
	}
	agent.ready.Store(true)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("install did not finish after the agent became ready")
	}
	b, err := os.ReadFile(conflist)
	if err != nil || !strings.Contains(string(b), `"socketPath": "`+d.socket+`"`) || !strings.Contains(string(b), `"mtu": 1500`) {
		t.Fatalf("conflist = %s, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(d.bin, cniconf.PluginType)); err != nil || string(b) != "plugin" {
		t.Fatalf("plugin = %q, %v", b, err)
	}
}

func TestInstallGivesUpWithoutWritingAnything(t *testing.T) {
	d := newInstallTestDirs(t)
	_, err := runInstallCmd(t, t.Context(), d.installArgs("1s")...)
	if err == nil || !strings.Contains(err.Error(), "did not become ready, so no conflist was written") {
		t.Fatalf("err = %v", err)
	}
	for _, p := range []string{filepath.Join(d.conf, cniconf.ConflistName), filepath.Join(d.bin, cniconf.PluginType)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s exists after a failed install", p)
		}
	}
	// A bad setting is named before anything happens.
	args := append(d.installArgs("0"), "--veth-prefix", "eth")
	if _, err := runInstallCmd(t, t.Context(), args...); err == nil || !strings.Contains(err.Error(), "--veth-prefix") {
		t.Fatalf("bad veth prefix: err = %v", err)
	}
}

// TestInstallWithoutWaitInstallsOnlyThePlugin is the systemd unit's
// ExecStartPre: the agent is not running yet, so no conflist may appear.
func TestInstallWithoutWaitInstallsOnlyThePlugin(t *testing.T) {
	d := newInstallTestDirs(t)
	out, err := runInstallCmd(t, t.Context(), d.installArgs("0")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "eksnet-agent run writes") {
		t.Fatalf("output = %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(d.bin, cniconf.PluginType)); err != nil || string(b) != "plugin" {
		t.Fatalf("plugin = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(d.conf, cniconf.ConflistName)); !os.IsNotExist(err) {
		t.Fatalf("install without --wait wrote a conflist (stat: %v)", err)
	}
}

func TestUninstallRemovesFilesAndSNAT(t *testing.T) {
	netnstest.RequireRoot(t)
	d := newInstallTestDirs(t)
	if err := cniconf.Install(cniconf.Config{ConfDir: d.conf, BinDir: d.bin, PluginSource: d.plugin, NetworkName: "eksnet",
		SocketPath: d.socket, VethPrefix: "eni"}); err != nil {
		t.Fatal(err)
	}
	node := netnstest.New(t, "node")
	cfg := snat.Config{PrimaryIP: netip.MustParseAddr("10.0.0.10"), PrimaryLink: "eth0",
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, Netns: node.Path}
	if err := snat.Apply(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := runInstallCmd(t, t.Context(), "uninstall", "--cni-conf-dir", d.conf, "--cni-bin-dir", d.bin, "--netns", node.Path); err != nil {
			t.Fatalf("uninstall #%d: %v", i+1, err)
		}
	}
	for _, p := range []string{filepath.Join(d.conf, cniconf.ConflistName), filepath.Join(d.bin, cniconf.PluginType)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s still there after uninstall", p)
		}
	}
	if _, ok, err := snat.Installed(node.Path); err != nil || ok {
		t.Fatalf("SNAT table still there after uninstall (err %v)", err)
	}
}

// TestMisspelledEnvironmentSettingIsAnError: `eksnet-agent run` with
// EKSNET_MOED in its environment stops with the same kind of error a typo in
// agent.env gets, before doing anything.
func TestMisspelledEnvironmentSettingIsAnError(t *testing.T) {
	var out bytes.Buffer
	a := &app{stdout: &out, stderr: &out, getenv: func(string) string { return "" },
		environ: func() []string { return []string{"EKSNET_MOED=prefix"} }}
	err := runWith(context.Background(), []string{"run", "--config-file", "/nonexistent-eksnet-test/agent.env"}, a)
	if err == nil || !strings.Contains(err.Error(), "unknown setting EKSNET_MOED; did you mean EKSNET_MODE?") {
		t.Fatalf("run with EKSNET_MOED: %v, want the misspelled-setting error", err)
	}
}
