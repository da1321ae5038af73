package kube

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// exited reports whether the process cmd started has exited within 5 s
// (it is reaped here, so a killed one does not linger as a zombie).
func exited(cmd *exec.Cmd) bool {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

// TestKillShimsKillsOnlyThisNodesShims: a process whose command line says
// "-address SOCK" (how containerd starts a shim) is killed; one serving
// another node's socket is not.
func TestKillShimsKillsOnlyThisNodesShims(t *testing.T) {
	dir := t.TempDir()
	ours, theirs := filepath.Join(dir, "a", "containerd.sock"), filepath.Join(dir, "b", "containerd.sock")
	start := func(sock string) *exec.Cmd {
		// bash stays the process (the ; keeps it from exec'ing sleep), with
		// the shim-like arguments on its command line.
		cmd := exec.Command("bash", "-c", "sleep 60; :", "containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "x", "-address", sock)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	a, b := start(ours), start(theirs)
	defer b.Process.Kill()
	time.Sleep(100 * time.Millisecond) // until exec has set the command line
	killShims(ours)
	if !exited(a) {
		a.Process.Kill()
		t.Error("the shim of the stopped node's containerd is still running")
	}
	if err := b.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("another node's shim was killed: %v", err)
	}
}

// TestStopEmptiesTheNodesCgroups: a process left in the node's pod cgroup
// (as a container is when containerd cannot remove it in time) is killed,
// and the cgroup tree is removed. Needs root and a cgroup v1 pids hierarchy.
func TestStopEmptiesTheNodesCgroups(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: creates cgroups")
	}
	root := fmt.Sprintf("eksnet.test%d", os.Getpid())
	if err := makeCgroup(root); err != nil {
		t.Fatal(err)
	}
	pod := filepath.Join("/sys/fs/cgroup/pids", root, "kubepods", "pod1")
	if err := os.MkdirAll(pod, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if err := os.WriteFile(filepath.Join(pod, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &NodeStack{cfg: NodeConfig{Name: "n", Dir: t.TempDir(), CgroupRoot: root}, sock: filepath.Join(t.TempDir(), "containerd.sock")}
	go func() { _ = cmd.Wait() }() // reap it once killed, as containerd's shim would
	if err := n.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/pids", root)); !os.IsNotExist(err) {
		t.Errorf("the node's cgroup is still there (%v)", err)
		_ = removeCgroup(root)
	}
}
