package kube

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eksnet/eksnet/bootstrap/bundle"
)

// The upstream releases the simulation runs, one of each. etcd is the
// server release k8s.io/kubernetes v1.34.2 itself requires (built in the
// same wrapper module, so the module graph picks exactly that one);
// containerd is a 2.x as current EKS AMIs ship; the CNI plugins are the
// release the node bundle carries (bundle.CNIPluginsVersion, which go.mod
// pins) and the benchmark uses.
const (
	KubernetesVersion = "v1.34.2"
	EtcdVersion       = "v3.6.4"
	ContainerdVersion = "v2.4.2"
	CNIPluginsVersion = bundle.CNIPluginsVersion
)

// stagingModules are the k8s.io modules k8s.io/kubernetes replaces with
// its staging tree; outside that tree each must be pinned to the matching
// v0 release, or `go build` resolves them to whatever is newest.
var stagingModules = []string{
	"api", "apiextensions-apiserver", "apimachinery", "apiserver", "cli-runtime", "client-go",
	"cloud-provider", "cluster-bootstrap", "code-generator", "component-base", "component-helpers",
	"controller-manager", "cri-api", "cri-client", "csi-translation-lib", "dynamic-resource-allocation",
	"endpointslice", "externaljwt", "kms", "kube-aggregator", "kube-controller-manager", "kube-proxy",
	"kube-scheduler", "kubectl", "kubelet", "metrics", "mount-utils", "pod-security-admission",
	"sample-apiserver", "sample-cli-plugin", "sample-controller",
}

// Binaries are the upstream programs a simulated Kubernetes cluster runs.
type Binaries struct {
	Etcd, APIServer, ControllerManager, Scheduler, Kubelet, KubeProxy, Kubectl string
	Containerd, Ctr, Runc                                                      string
	// CNIDir holds loopback, portmap, ptp and host-local.
	CNIDir string
}

// component is one group of binaries built by one `go` command.
type component struct {
	name, version string
	bins          []string // file names produced
	build         func(ctx context.Context, dir string, run func(*exec.Cmd) error) error
}

func components() []component {
	kubeLdflags := "-s -w -X k8s.io/component-base/version.gitVersion=" + KubernetesVersion +
		" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34"
	return []component{
		{name: "kubernetes", version: KubernetesVersion,
			bins: []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl", "etcd"},
			build: func(ctx context.Context, dir string, run func(*exec.Cmd) error) error {
				// k8s.io/kubernetes has replace directives, so `go install
				// pkg@version` refuses it: build it inside a wrapper module
				// that pins every staging module instead.
				src := filepath.Join(dir, "src")
				if err := os.MkdirAll(src, 0o755); err != nil {
					return err
				}
				var mod strings.Builder
				mod.WriteString("module eksnet.local/kubebuild\n\ngo 1.24.0\n\n")
				for _, m := range stagingModules {
					fmt.Fprintf(&mod, "replace k8s.io/%s => k8s.io/%s v0%s\n", m, m, strings.TrimPrefix(KubernetesVersion, "v1"))
				}
				if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(mod.String()), 0o644); err != nil {
					return err
				}
				// etcd's server module has replace directives too; as a
				// dependency of this module they are ignored and every etcd
				// module resolves to the release kubernetes requires.
				if err := os.MkdirAll(filepath.Join(src, "etcd"), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(src, "etcd", "main.go"), []byte(etcdMain), 0o644); err != nil {
					return err
				}
				get := goCmd(ctx, src, "get", "k8s.io/kubernetes@"+KubernetesVersion)
				if err := run(get); err != nil {
					return err
				}
				args := []string{"build", "-v", "-mod=mod", "-trimpath", "-ldflags", kubeLdflags, "-o", dir + "/"}
				for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"} {
					args = append(args, "k8s.io/kubernetes/cmd/"+b)
				}
				if err := run(goCmd(ctx, src, args...)); err != nil {
					return err
				}
				return run(goCmd(ctx, src, "build", "-v", "-mod=mod", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, "etcd"), "./etcd"))
			}},
		{name: "containerd", version: ContainerdVersion, bins: []string{"containerd", "containerd-shim-runc-v2", "ctr"},
			build: func(ctx context.Context, dir string, run func(*exec.Cmd) error) error {
				return run(goInstall(ctx, dir,
					"github.com/containerd/containerd/v2/cmd/containerd@"+ContainerdVersion,
					"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@"+ContainerdVersion,
					"github.com/containerd/containerd/v2/cmd/ctr@"+ContainerdVersion))
			}},
		{name: "cni-plugins", version: CNIPluginsVersion, bins: []string{"loopback", "portmap", "ptp", "host-local"},
			build: func(ctx context.Context, dir string, run func(*exec.Cmd) error) error {
				var pkgs []string
				for _, p := range []string{"main/loopback", "meta/portmap", "main/ptp", "ipam/host-local"} {
					pkgs = append(pkgs, "github.com/containernetworking/plugins/plugins/"+p+"@"+CNIPluginsVersion)
				}
				return run(goInstall(ctx, dir, pkgs...))
			}},
	}
}

// etcdMain is the wrapper's etcd command: etcd's own main, which lives in
// a module that cannot be `go install`ed (it has replace directives).
const etcdMain = `// Command etcd is etcd's server at the release k8s.io/kubernetes requires.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
`

// goCmd is `go ARGS` in dir for static binaries, with the caller's GOFLAGS
// (e.g. -buildvcs=false, -mod=vendor) kept out of modules that are not ours.
func goCmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	return cmd
}

// goInstall installs pkgs@version into dir, outside any module so nothing
// of ours (go.mod, go.sum) is touched. containerd builds without cgo once its
// cgo-only snapshotters are left out.
func goInstall(ctx context.Context, dir string, pkgs ...string) *exec.Cmd {
	args := append([]string{"install", "-v", "-trimpath", "-ldflags", "-s -w",
		"-tags", "no_btrfs no_devmapper no_zfs no_aufs"}, pkgs...)
	cmd := goCmd(ctx, os.TempDir(), args...)
	cmd.Env = append(cmd.Env, "GOBIN="+dir)
	return cmd
}

// CacheDir is where built binaries are kept between runs:
// $EKSNET_SIM_CACHE, else $XDG_CACHE_HOME/eksnet/sim, else
// ~/.cache/eksnet/sim. One folder per component and version.
func CacheDir() (string, error) {
	if d := os.Getenv("EKSNET_SIM_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "eksnet", "sim"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder for the simulation's binaries: set EKSNET_SIM_CACHE: %w", err)
	}
	return filepath.Join(home, ".cache", "eksnet", "sim"), nil
}

// EnsureBinaries returns the upstream binaries, building those missing
// from cacheDir with the Go toolchain and the module proxy. progress gets
// a line when a build starts, every 15 s while it runs and when it ends.
// runc is not built: it needs cgo and libseccomp, so it comes from the
// distribution (Debian's runc package) and must be on PATH.
func EnsureBinaries(ctx context.Context, cacheDir string, progress io.Writer) (Binaries, error) {
	if progress == nil {
		progress = io.Discard
	}
	dirs := map[string]string{}
	for _, c := range components() {
		dir := filepath.Join(cacheDir, c.name+"-"+c.version)
		dirs[c.name] = dir
		if complete(dir, c.bins) {
			continue
		}
		if err := buildComponent(ctx, c, dir, progress); err != nil {
			return Binaries{}, err
		}
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		return Binaries{}, errors.New("runc not found on PATH: containerd needs it to start containers (apt-get install -y runc)")
	}
	k, c := dirs["kubernetes"], dirs["containerd"]
	return Binaries{
		Etcd:              filepath.Join(k, "etcd"),
		APIServer:         filepath.Join(k, "kube-apiserver"),
		ControllerManager: filepath.Join(k, "kube-controller-manager"),
		Scheduler:         filepath.Join(k, "kube-scheduler"),
		Kubelet:           filepath.Join(k, "kubelet"),
		KubeProxy:         filepath.Join(k, "kube-proxy"),
		Kubectl:           filepath.Join(k, "kubectl"),
		Containerd:        filepath.Join(c, "containerd"),
		Ctr:               filepath.Join(c, "ctr"),
		Runc:              runc,
		CNIDir:            dirs["cni-plugins"],
	}, nil
}

// complete reports whether dir holds every binary and the stamp written
// after a successful build (an interrupted build leaves no stamp).
func complete(dir string, bins []string) bool {
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
		return false
	}
	for _, b := range bins {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return false
		}
	}
	return true
}

func buildComponent(ctx context.Context, c component, dir string, progress io.Writer) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	fmt.Fprintf(progress, "building %s %s (%s) into %s; cold, kubernetes takes ~10 min on 2 cores, the rest ~1-2 min each; cached after\n",
		c.name, c.version, strings.Join(c.bins, ", "), dir)
	start := time.Now()
	var compiled atomic.Int64
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(progress, "  %s: %d packages compiled, %s\n", c.name, compiled.Load(), time.Since(start).Round(time.Second))
			}
		}
	}()
	var log strings.Builder
	run := func(cmd *exec.Cmd) error {
		pr, pw := io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, pw
		scanned := make(chan struct{})
		go func() {
			defer close(scanned)
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "go: ") || strings.Contains(line, " ") {
					log.WriteString(line + "\n") // downloads, errors
				} else {
					compiled.Add(1) // -v: one package path per line
				}
			}
		}()
		err := cmd.Run()
		pw.Close()
		<-scanned
		if err != nil {
			return fmt.Errorf("building %s %s: %s: %w\n%s", c.name, c.version, strings.Join(cmd.Args, " "), err, tail(log.String(), 40))
		}
		return nil
	}
	err := c.build(ctx, dir, run)
	close(done)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ".complete"), []byte(c.version+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(progress, "  %s %s built in %s\n", c.name, c.version, time.Since(start).Round(time.Second))
	return nil
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
