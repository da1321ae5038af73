package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/eksnet/eksnet/sim/simcluster"
)

// Why a wrapper: Go starts children with vfork (CLONE_VM), and Linux folds
// the high-water RSS of the mm a process leaves at exec into its
// ru_maxrss, so wait4 on a plugin exec'd from the benchmark (or from `ip
// netns exec` started by it) reports the benchmark's own RSS whenever that is
// larger. The wrapper is this binary re-exec'd inside the node namespace: a
// small fresh process that starts the plugin and reports the plugin's
// ru_maxrss, bounded below only by the wrapper's few MiB.
const (
	rssWrapperEnv = "EKSNET_BENCH_RSS_WRAPPER"
	rssFileEnv    = "EKSNET_BENCH_RSS_FILE"
)

// rssWrap runs args with this process's stdio and environment (minus the
// wrapper's variables), writes the child's ru_maxrss (KiB) to the file
// named by rssFileEnv and returns the child's exit status.
func rssWrap(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "bench rss wrapper: no command")
		return 2
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	out := os.Getenv(rssFileEnv)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, rssWrapperEnv+"=") && !strings.HasPrefix(kv, rssFileEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench rss wrapper:", err)
		return 2
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && out != "" {
		_ = os.WriteFile(out, []byte(strconv.FormatInt(ru.Maxrss, 10)), 0o600)
	}
	return code
}

// pluginPeakRSS runs ADD then DEL of one extra pod through the wrapper, on
// a node already holding every benchmark pod (the most state the plugin's
// netlink dumps will see), and returns the larger ru_maxrss in KiB.
func pluginPeakRSS(ctx context.Context, node *simcluster.Node, p plugin, name, dir string) (int64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("finding the benchmark binary for the RSS wrapper: %w", err)
	}
	pod, err := node.NewPod(name)
	if err != nil {
		return 0, err
	}
	file := dir + "/" + name + ".rss"
	wrapped := p
	wrapped.bin, wrapped.wrapper = self, []string{p.bin}
	wrapped.extraEnv = []string{rssWrapperEnv + "=1", rssFileEnv + "=" + file}
	var peak int64
	var result []byte
	for _, command := range []string{"ADD", "DEL"} {
		c, err := wrapped.exec(ctx, node.Sim(), command, "rss-"+name, pod.NetNS, name, result)
		if err != nil {
			return 0, fmt.Errorf("RSS probe: %w", err)
		}
		result = c.out
		b, err := os.ReadFile(file)
		if err != nil {
			return 0, fmt.Errorf("RSS probe: the wrapper reported nothing: %w", err)
		}
		kib, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("RSS probe: %q: %w", b, err)
		}
		peak = max(peak, kib)
	}
	return peak, nil
}
