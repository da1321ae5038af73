package cniconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// libcni112Verdict is what testdata/libcni112 prints.
type libcni112Verdict struct {
	Picked      string   `json:"picked"`
	ConfError   string   `json:"confError"`
	ResultError string   `json:"resultError"`
	IPs         []string `json:"ips"`
}

// TestLibcni112ParsesTheConflist reads the rendered conflist, and the ADD
// result the plugin prints for the version it is called with, through
// libcni v1.1.2: the CNI library of containerd 1.7, which AL2 and some
// AL2023 AMIs still ship. That libcni ignores "cniVersions"; with
// "cniVersion": "1.1.0" it could not parse the 1.1.0 result and every pod
// sandbox failed.
//
// libcni v1.1.2 lives in its own module under testdata so the main module
// links one CNI library; the test builds it with -mod=mod from the module
// cache or GOPROXY, and skips (saying why) only when neither can provide it.
func TestLibcni112ParsesTheConflist(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds libcni v1.1.2")
	}
	bin := buildLibcni112(t)

	dir := t.TempDir()
	results := filepath.Join(dir, "results")
	if err := os.Mkdir(results, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range SupportedVersions {
		if err := os.WriteFile(filepath.Join(results, v+".json"), pluginAddResult(t, v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf, err := Render(validConfig(t))
	if err != nil {
		t.Fatal(err)
	}

	got := runLibcni112(t, bin, dir, "rendered", conf, results)
	if got.ConfError != "" || got.ResultError != "" || got.Picked != CNIVersion || strings.Join(got.IPs, ",") != "10.0.1.5/32" {
		t.Fatalf("containerd 1.7 (libcni v1.1.2) on the rendered conflist: %+v, want version %s, no error, IP 10.0.1.5/32", got, CNIVersion)
	}

	// The check itself must see the defect it guards against: the same
	// conflist declaring 1.1.0 is what broke containerd 1.7.
	old := bytes.Replace(conf, []byte(`"cniVersion": "`+CNIVersion+`"`), []byte(`"cniVersion": "1.1.0"`), 1)
	if bytes.Equal(old, conf) {
		t.Fatalf("cannot find the cniVersion key in:\n%s", conf)
	}
	got = runLibcni112(t, bin, dir, "declaring-1.1.0", old, results)
	if got.Picked != "1.1.0" || !strings.Contains(got.ResultError, `unsupported CNI result version "1.1.0"`) {
		t.Fatalf("libcni v1.1.2 on a conflist declaring 1.1.0: %+v, want the unsupported result version error", got)
	}
}

// pluginAddResult is what eksnet-cni's ADD prints when called with version
// v: a types100 result of the library's newest version, converted by
// types.PrintResult (cmd/eksnet-cni/add.go builds it the same way).
func pluginAddResult(t *testing.T, v string) []byte {
	t.Helper()
	podIdx := 1
	gw := net.IPv4(169, 254, 1, 1).To4()
	r := &types100.Result{
		CNIVersion: types100.ImplementedSpecVersion,
		Interfaces: []*types100.Interface{
			{Name: "eni0123456789a", Mac: "02:00:00:00:00:01"},
			{Name: "eth0", Mac: "02:00:00:00:00:02", Sandbox: "/var/run/netns/pod"},
		},
		IPs: []*types100.IPConfig{{
			Interface: &podIdx, Address: net.IPNet{IP: net.IPv4(10, 0, 1, 5).To4(), Mask: net.CIDRMask(32, 32)}, Gateway: gw,
		}},
		Routes: []*types.Route{{Dst: net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, GW: gw}},
	}
	conv, err := r.GetAsVersion(v)
	if err != nil {
		t.Fatalf("converting the ADD result to %s: %v", v, err)
	}
	var buf bytes.Buffer
	if err := conv.PrintTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// buildLibcni112 builds testdata/libcni112 from a copy, so -mod=mod can
// never rewrite the checked-in go.mod or go.sum.
func buildLibcni112(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("testdata", "libcni112"))
	if err != nil {
		t.Fatal(err)
	}
	mod := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum", "main.go"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mod, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off", "GOTOOLCHAIN=local")
	goCmd := func(args ...string) ([]byte, error) {
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = mod, env
		return cmd.CombinedOutput()
	}
	// Only these two steps may need the network (the module graph's go.mod
	// files and the libcni zip); once they succeed the build is offline.
	for _, step := range [][]string{{"list", "-m", "all"}, {"mod", "download", "github.com/containernetworking/cni"}} {
		if out, err := goCmd(step...); err != nil {
			t.Skipf("libcni v1.1.2 is neither in the module cache nor reachable through GOPROXY (go %s): %v\n%s",
				strings.Join(step, " "), err, out)
		}
	}
	bin := filepath.Join(mod, "libcni112")
	if out, err := goCmd("build", "-o", bin, "."); err != nil {
		t.Fatalf("building testdata/libcni112: %v\n%s", err, out)
	}
	return bin
}

// runLibcni112 writes conf to a file and asks libcni v1.1.2 about it.
func runLibcni112(t *testing.T, bin, dir, name string, conf []byte, results string) libcni112Verdict {
	t.Helper()
	path := filepath.Join(dir, name+".conflist")
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, path, results).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("libcni112 %s: %v\n%s", name, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var v libcni112Verdict
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("libcni112 output %q: %v", out, err)
	}
	return v
}
