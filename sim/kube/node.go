package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/eksnet/eksnet/sim"
)

// NodeConfig is one simulated node's Kubernetes side.
type NodeConfig struct {
	// Name is the node's name (kubelet's --hostname-override).
	Name string
	// Dir holds the node's containerd and kubelet state and their logs.
	Dir string
	// NodeIP is the primary ENI's address.
	NodeIP netip.Addr
	// Start starts a command inside the node's network namespace (and the
	// host's mount namespace), as sim.Node.Start does.
	Start func(*exec.Cmd) error
	// CNIConfDir and CNIBinDir are the node's CNI folders: the agent writes
	// its conflist into the first and installs its plugins into the second.
	CNIConfDir, CNIBinDir string
	// Settings are the kubelet settings read from the node's user data.
	Settings NodeSettings
	// CgroupRoot is the cgroup all of this node's pods live under, so nodes
	// sharing this machine's cgroup tree never see each other's pods.
	CgroupRoot string
	// Images are OCI archives imported into containerd before kubelet starts.
	Images []string
}

// NodeStack is a running containerd and kubelet for one simulated node.
type NodeStack struct {
	cfg        NodeConfig
	containerd *proc
	kubelet    *proc
	sock       string
	bins       Binaries
}

// StartNode starts containerd, imports the images and starts kubelet with
// a kube-proxy static pod, all inside the node's network namespace.
func (cp *ControlPlane) StartNode(ctx context.Context, cfg NodeConfig) (_ *NodeStack, err error) {
	n := &NodeStack{cfg: cfg, bins: cp.cfg.Bins, sock: filepath.Join(cfg.Dir, "containerd", "containerd.sock")}
	defer func() {
		if err != nil {
			_ = n.Stop()
		}
	}()
	for _, d := range []string{"containerd", "kubelet", "manifests", "logs", "pki"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := makeCgroup(cfg.CgroupRoot); err != nil {
		return nil, err
	}
	if err := n.startContainerd(ctx); err != nil {
		return nil, err
	}
	for _, img := range cfg.Images {
		cmd := exec.CommandContext(ctx, n.bins.Ctr, "--address", n.sock, "--namespace", "k8s.io", "images", "import", img)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("node %s: importing %s: %w\n%s", cfg.Name, filepath.Base(img), err, out)
		}
	}
	if err := cp.writeKubeProxy(n); err != nil {
		return nil, err
	}
	if err := cp.startKubelet(ctx, n); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *NodeStack) path(p ...string) string {
	return filepath.Join(append([]string{n.cfg.Dir}, p...)...)
}

// containerdConfig is the node's containerd 2.x configuration: its own
// root, state and socket, the node's CNI folders, runc with cgroupfs, the
// local pause image, its own NRI socket (the default path is one per
// machine), and pod namespaces under its state folder (so a
// node's teardown finds them all). restrict_oom_score_adj: root here lacks
// CAP_SYS_RESOURCE, so the runtime may not lower a container's OOM score.
func (n *NodeStack) containerdConfig() string {
	return fmt.Sprintf(`version = 3
root = %q
state = %q

[grpc]
  address = %q

[plugins.'io.containerd.internal.v1.opt']
  path = %q

[plugins.'io.containerd.nri.v1.nri']
  socket_path = %q

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %q

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [%q]
    conf_dir = %q
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = %q
        SystemdCgroup = false
`, n.path("containerd", "root"), n.path("containerd", "state"), n.sock, n.path("containerd", "opt"), n.path("containerd", "nri.sock"),
		PauseImage, n.cfg.CNIBinDir, n.cfg.CNIConfDir, n.bins.Runc)
}

func (n *NodeStack) startContainerd(ctx context.Context) error {
	conf := n.path("containerd", "config.toml")
	if err := os.WriteFile(conf, []byte(n.containerdConfig()), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(n.bins.Containerd, "--config", conf, "--log-level", "warn")
	// containerd finds its runc shim (containerd-shim-runc-v2) on PATH.
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(n.bins.Containerd)+":"+os.Getenv("PATH"))
	var err error
	if n.containerd, err = startProc("containerd on "+n.cfg.Name, cmd, n.path("logs", "containerd.log"), n.cfg.Start); err != nil {
		return err
	}
	return waitFor(ctx, "containerd on "+n.cfg.Name+" to serve", 60*time.Second, n.containerd, func() (bool, error) {
		c, err := net.DialTimeout("unix", n.sock, time.Second)
		if err != nil {
			return false, err
		}
		c.Close()
		return true, nil
	})
}

// kubeletConfig is nodeadm's KubeletConfiguration for an EKS node (the
// settings its template sets that matter here), user data's kubelet
// settings merged over it as nodeadm merges kubelet.config, then what one
// machine hosting many nodes needs: the node's own paths and cgroup, the
// cgroupfs driver (no systemd here) and no server certificate bootstrap.
func (n *NodeStack) kubeletConfig(caPath string) map[string]any {
	c := map[string]any{
		"kind":       "KubeletConfiguration",
		"apiVersion": "kubelet.config.k8s.io/v1beta1",
		"address":    "0.0.0.0",
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true, "cacheTTL": "2m0s"},
			"x509":      map[string]any{"clientCAFile": caPath},
		},
		"authorization":            map[string]any{"mode": "Webhook"},
		"clusterDomain":            "cluster.local",
		"hairpinMode":              "hairpin-veth",
		"readOnlyPort":             0,
		"serializeImagePulls":      false,
		"containerRuntimeEndpoint": "unix://" + n.sock,
		"evictionHard":             map[string]any{"memory.available": "100Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%", "imagefs.available": "1%"},
	}
	maps.Copy(c, n.cfg.Settings.Config)
	maps.Copy(c, map[string]any{
		"cgroupDriver":          "cgroupfs",
		"cgroupRoot":            n.cfg.CgroupRoot,
		"cgroupsPerQOS":         true,
		"failSwapOn":            false,
		"protectKernelDefaults": false,
		"serverTLSBootstrap":    false,
		"staticPodPath":         n.path("manifests"),
		"podLogsDir":            n.path("logs", "pods"),
		"resolvConf":            "",
		// Many kubelets share one disk and one set of images here:
		// image GC and eviction would judge the host, not the node.
		"imageGCHighThresholdPercent":   100,
		"imageGCLowThresholdPercent":    99,
		"tlsCertFile":                   n.path("pki", "kubelet-serving.crt"),
		"tlsPrivateKeyFile":             n.path("pki", "kubelet-serving.key"),
		"localStorageCapacityIsolation": false,
	})
	return c
}

func (cp *ControlPlane) startKubelet(ctx context.Context, n *NodeStack) error {
	name := n.cfg.Name
	kc, err := cp.Kubeconfig("kubelet-"+name, "system:node:"+name, []string{"system:nodes"}, false)
	if err != nil {
		return err
	}
	crt, key, err := cp.pki.issue("kubelet-serving-"+name, "system:node:"+name, []string{"system:nodes"},
		[]net.IP{net.IP(n.cfg.NodeIP.AsSlice())}, []string{name})
	if err != nil {
		return err
	}
	for src, dst := range map[string]string{crt: n.path("pki", "kubelet-serving.crt"), key: n.path("pki", "kubelet-serving.key")} {
		if err := os.Rename(src, dst); err != nil {
			return err
		}
	}
	conf, err := json.MarshalIndent(n.kubeletConfig(cp.pki.CAPath()), "", "  ")
	if err != nil {
		return err
	}
	confPath := n.path("kubelet", "config.json")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return err
	}
	args := append(flags([][2]string{
		{"config", confPath}, {"kubeconfig", kc}, {"root-dir", n.path("kubelet", "root")},
		{"hostname-override", name}, {"node-ip", n.cfg.NodeIP.String()},
		{"cert-dir", n.path("pki")}, {"v", "1"},
	}), n.cfg.Settings.Flags...)
	cmd := exec.Command(cp.cfg.Bins.Kubelet, args...)
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH"))
	if err := startKubeletAlone(n, cmd); err != nil {
		return err
	}
	c, err := cp.Client()
	if err != nil {
		return err
	}
	return waitFor(ctx, "kubelet on "+name+" to register the node", 90*time.Second, n.kubelet, func() (bool, error) {
		_, err := c.Node(ctx, name)
		return err == nil, err
	})
}

// deviceManagerSocket is kubelet's device-plugin registration socket, a
// path compiled into kubelet (k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1
// KubeletSocket) that no flag or setting moves: every simulated kubelet on
// this machine binds the same path.
const deviceManagerSocket = "/var/lib/kubelet/device-plugins/kubelet.sock"

// kubeletStarts serialises kubelet start-ups on this machine.
var kubeletStarts sync.Mutex

// startKubeletAlone starts kubelet and holds every other node's kubelet
// back until this one has bound deviceManagerSocket (or exited, or 60 s
// passed). Kubelet empties the socket's folder and then binds it, so two
// starting together can both empty it and the second bind fails with
// "address already in use": kubelet then exits (seen on a 2-node sim run).
// One after the other, the later kubelet takes the path over, which is
// harmless: no device plugin runs here.
func startKubeletAlone(n *NodeStack, cmd *exec.Cmd) error {
	kubeletStarts.Lock()
	defer kubeletStarts.Unlock()
	started := time.Now()
	var err error
	if n.kubelet, err = startProc("kubelet on "+n.cfg.Name, cmd, n.path("logs", "kubelet.log"), n.cfg.Start); err != nil {
		return err
	}
	for deadline := started.Add(60 * time.Second); time.Now().Before(deadline) && n.kubelet.running(); time.Sleep(100 * time.Millisecond) {
		if fi, err := os.Stat(deviceManagerSocket); err == nil && !fi.ModTime().Before(started.Truncate(time.Second)) {
			return nil
		}
	}
	return nil
}

// containerLogLinks is where kubelet links every container's log, a path
// compiled into kubelet (kuberuntime's legacyContainerLogsDir) and shared
// by every simulated node.
const containerLogLinks = "/var/log/containers"

// removeLogLinks removes the links kubelet made in containerLogLinks to
// logs under dir: the node's, gone with it.
func removeLogLinks(dir string) {
	ents, _ := os.ReadDir(containerLogLinks)
	for _, e := range ents {
		p := filepath.Join(containerLogLinks, e.Name())
		if target, err := os.Readlink(p); err == nil && strings.HasPrefix(target, dir+"/") {
			_ = os.Remove(p)
		}
	}
}

// writeKubeProxy writes kube-proxy's kubeconfig, configuration and static
// pod: a host-network pod like the EKS kube-proxy DaemonSet's, in iptables
// mode. Its image holds only the kube-proxy binary; the iptables tools it
// execs come from the host by hostPath, as they would from its image.
func (cp *ControlPlane) writeKubeProxy(n *NodeStack) error {
	kc, err := cp.Kubeconfig("kube-proxy-"+n.cfg.Name, "system:kube-proxy", nil, false)
	if err != nil {
		return err
	}
	conf := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
mode: iptables
hostnameOverride: %s
bindAddress: 0.0.0.0
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 0.0.0.0:10256
conntrack:
  maxPerCore: 0
`, kc, n.cfg.Name)
	confPath := n.path("kubelet", "kube-proxy.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "kube-proxy", "namespace": "kube-system", "labels": map[string]any{"k8s-app": "kube-proxy"}},
		"spec": map[string]any{
			"hostNetwork":       true,
			"priorityClassName": "system-node-critical",
			"containers": []any{map[string]any{
				"name": "kube-proxy", "image": KubeProxyImage,
				"command":         []string{"/kube-proxy", "--config=" + confPath, "--v=1"},
				"securityContext": map[string]any{"privileged": true},
				"volumeMounts":    hostMounts(cp.cfg.Dir, filepath.Dir(confPath)),
			}},
			"volumes": hostVolumes(cp.cfg.Dir, filepath.Dir(confPath)),
		},
	}
	b, err := json.MarshalIndent(pod, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(n.path("manifests", "kube-proxy.json"), b, 0o644)
}

// hostPaths are what kube-proxy's container takes from the host: the
// iptables tools and their libraries and the xtables lock. Its
// configuration and credentials are mounted at their host paths too.
var hostPaths = []string{"/usr", "/lib", "/lib64", "/etc/alternatives", "/run/xtables.lock"}

func hostMounts(confDirs ...string) []any {
	var out []any
	for i, p := range append(hostPaths, confDirs...) {
		out = append(out, map[string]any{"name": fmt.Sprintf("host%d", i), "mountPath": p, "readOnly": p != "/run/xtables.lock"})
	}
	return out
}

func hostVolumes(confDirs ...string) []any {
	var out []any
	for i, p := range append(hostPaths, confDirs...) {
		hp := map[string]any{"path": p}
		if p == "/run/xtables.lock" {
			hp["type"] = "FileOrCreate"
		}
		out = append(out, map[string]any{"name": fmt.Sprintf("host%d", i), "hostPath": hp})
	}
	return out
}

// makeCgroup creates the node's cgroup in every mounted v1 hierarchy
// (kubelet refuses a cgroupRoot that does not exist).
func makeCgroup(root string) error {
	ents, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return fmt.Errorf("reading /sys/fs/cgroup: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() || e.Name() == "unified" {
			continue
		}
		if err := os.MkdirAll(filepath.Join("/sys/fs/cgroup", e.Name(), root), 0o755); err != nil {
			return fmt.Errorf("creating cgroup %s: %w", root, err)
		}
	}
	return nil
}

// removeCgroup removes the node's cgroups, deepest first; a cgroup with a
// process left in it stays and is reported.
func removeCgroup(root string) error {
	ents, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if !e.IsDir() || e.Name() == "unified" {
			continue
		}
		base := filepath.Join("/sys/fs/cgroup", e.Name(), root)
		var dirs []string
		_ = filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := removeDir(dirs[i]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// removeDir removes one cgroup, waiting up to 5 s for the processes killed
// in it to be gone (EBUSY until then).
func removeDir(dir string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Check reports containerd or kubelet having exited.
func (n *NodeStack) Check() error {
	for _, p := range []*proc{n.containerd, n.kubelet} {
		if p != nil && !p.running() {
			return p.exitError()
		}
	}
	return nil
}

// Stop stops kubelet, kills every process in the node's pods, removes the
// containers, stops containerd and the shims it leaves, and removes the
// node's mounts and cgroups. It does not depend on containerd answering in
// time: a node of a few hundred pods on a loaded machine once left 316
// shims behind when removal was only through ctr under one deadline.
func (n *NodeStack) Stop() error {
	var errs []error
	if n.kubelet != nil {
		_ = n.kubelet.stop(10 * time.Second)
	}
	if n.cfg.CgroupRoot != "" {
		killCgroup(n.cfg.CgroupRoot)
	}
	if n.containerd != nil && n.containerd.running() {
		errs = append(errs, n.removeContainers())
		_ = n.containerd.stop(10 * time.Second)
	}
	killShims(n.sock)
	removeLogLinks(n.cfg.Dir)
	errs = append(errs, unmountUnder(n.cfg.Dir))
	if n.cfg.CgroupRoot != "" {
		errs = append(errs, removeCgroup(n.cfg.CgroupRoot))
	}
	return errors.Join(errs...)
}

// removeContainers removes every container of the node's containerd (their
// processes are already killed), 8 at a time, with a deadline that grows
// with their number.
func (n *NodeStack) removeContainers() error {
	list, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	out, err := exec.CommandContext(list, n.bins.Ctr, "--address", n.sock, "--namespace", "k8s.io", "containers", "list", "--quiet").CombinedOutput()
	cancel()
	if err != nil {
		return fmt.Errorf("listing containers on %s: %w: %s", n.cfg.Name, err, out)
	}
	ids := strings.Fields(string(out))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+time.Duration(len(ids))*time.Second)
	defer cancel()
	ctr := func(args ...string) {
		_ = exec.CommandContext(ctx, n.bins.Ctr, append([]string{"--address", n.sock, "--namespace", "k8s.io"}, args...)...).Run()
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, 8)
	for _, id := range ids {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			ctr("tasks", "kill", "--signal", "SIGKILL", id)
			ctr("tasks", "delete", "--force", id)
			ctr("containers", "delete", id)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("removing %d containers on %s: %w", len(ids), n.cfg.Name, ctx.Err())
	}
	return nil
}

// killCgroup SIGKILLs every process in the cgroup tree root of each
// mounted v1 hierarchy: the node's pod containers, however many.
func killCgroup(root string) {
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		_ = filepath.WalkDir(filepath.Join("/sys/fs/cgroup", e.Name(), root), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
}

// killShims SIGKILLs the containerd shims serving the containerd at sock
// (their command line carries "-address sock"): a shim outlives its
// containerd, and one left behind keeps its pod's mounts busy.
func killShims(sock string) {
	procs, _ := os.ReadDir("/proc")
	want := "\x00-address\x00" + sock + "\x00"
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), want) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountUnder lazily unmounts every mount below dir (kubelet's volume
// tmpfs, containerd's rootfs and pod netns mounts), deepest first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			mounts = append(mounts, f[4])
		}
	}
	var errs []error
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := unmount(mounts[i]); err != nil {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", mounts[i], err))
		}
	}
	return errors.Join(errs...)
}

func unmount(path string) error { return syscall.Unmount(path, syscall.MNT_DETACH) }

// PodNetNS returns the network namespace of the pod whose eth0 has ip:
// containerd mounts every pod namespace under the node's state folder
// (netns_mounts_under_state_dir), so the node's own mounts are searched.
func (n *NodeStack) PodNetNS(ip netip.Addr) (string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		// mount point is field 5; the filesystem type follows the " - ".
		sep := slices.Index(f, "-")
		if len(f) < 5 || sep < 0 || sep+1 >= len(f) || f[sep+1] != "nsfs" || !strings.HasPrefix(f[4], n.cfg.Dir+"/") {
			continue
		}
		var has bool
		err := sim.RunIn(f[4], func() error {
			addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
			for _, a := range addrs {
				if a.IP.Equal(net.IP(ip.AsSlice())) {
					has = true
				}
			}
			return err
		})
		if err == nil && has {
			return f[4], nil
		}
	}
	return "", fmt.Errorf("node %s: no pod network namespace has %s", n.cfg.Name, ip)
}

// Name is the node's name.
func (n *NodeStack) Name() string { return n.cfg.Name }

// KubeletLog is kubelet's log file.
func (n *NodeStack) KubeletLog() string { return n.path("logs", "kubelet.log") }

// ContainerLog is the end of the newest log of a container of a pod on
// this node, for error messages.
func (n *NodeStack) ContainerLog(namespace, pod, container string, lines int) string {
	logs, _ := filepath.Glob(n.path("logs", "pods", namespace+"_"+pod+"_*", container, "*.log"))
	if len(logs) == 0 {
		return "(no container log)"
	}
	slices.Sort(logs)
	return logTail(logs[len(logs)-1], lines)
}
