package kube

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBinariesReportTheirVersion builds (or takes from the cache) the
// upstream binaries and asks each for its version: a build without the
// version ldflags reports v0.0.0-master, and a wrong pin another release.
// CI runs it first, as its own step, so the cold build is timed apart.
func TestBinariesReportTheirVersion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	cache, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	bins, err := EnsureBinaries(ctx, cache, testWriter{t})
	if err != nil {
		if strings.Contains(err.Error(), "runc not found") && os.Getenv("CI") == "" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	for _, c := range []struct {
		bin  string
		args []string
		want string
	}{
		{bins.APIServer, []string{"--version"}, "Kubernetes " + KubernetesVersion},
		{bins.ControllerManager, []string{"--version"}, "Kubernetes " + KubernetesVersion},
		{bins.Scheduler, []string{"--version"}, "Kubernetes " + KubernetesVersion},
		{bins.Kubelet, []string{"--version"}, "Kubernetes " + KubernetesVersion},
		{bins.KubeProxy, []string{"--version"}, "Kubernetes " + KubernetesVersion},
		{bins.Etcd, []string{"--version"}, "etcd Version: " + strings.TrimPrefix(EtcdVersion, "v")},
		{"go", []string{"version", "-m", bins.Containerd}, "github.com/containerd/containerd/v2\t" + ContainerdVersion},
		// The plugins print only spec versions: ask the binary's build info.
		{"go", []string{"version", "-m", filepath.Join(bins.CNIDir, "portmap")}, "github.com/containernetworking/plugins\t" + CNIPluginsVersion},
		{"go", []string{"version", "-m", filepath.Join(bins.CNIDir, "loopback")}, "github.com/containernetworking/plugins\t" + CNIPluginsVersion},
	} {
		cmd := exec.CommandContext(ctx, c.bin, c.args...)
		cmd.Env = append(os.Environ(), "CNI_COMMAND=VERSION")
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), c.want) {
			t.Errorf("%s %s printed %q, want it to contain %q", filepath.Base(c.bin), strings.Join(c.args, " "), out, c.want)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
