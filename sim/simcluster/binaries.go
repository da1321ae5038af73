package simcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binary names, as the release and `go build ./cmd/...` name them.
const (
	AgentBinary  = "eksnet-agent"
	PluginBinary = "eksnet-cni"
)

// Module is the Go module path BuildBinaries looks for in go.mod.
const Module = "github.com/eksnet/eksnet"

// Binaries are the executables a node runs.
type Binaries struct {
	// Agent is the eksnet-agent executable.
	Agent string
	// Plugin is the eksnet-cni executable the agent installs for the runtime.
	Plugin string
	// Companions, when set, is a folder with the reference plugins a
	// container runtime needs beside eksnet-cni (loopback, portmap; see
	// cniconf.CompanionPlugins). The cluster stages them with the plugin
	// as the node bundle unpacks them, and the agent's install copies them.
	Companions string
}

// Check says which binary is missing or not executable.
func (b Binaries) Check() error {
	var errs []error
	for _, f := range []struct{ what, path string }{{AgentBinary, b.Agent}, {PluginBinary, b.Plugin}} {
		if err := Executable(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s binary: %w", f.what, err))
		}
	}
	return errors.Join(errs...)
}

// Executable says why path is not an executable regular file, or nil.
func Executable(path string) error {
	if path == "" {
		return errors.New("no path given")
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s: not an executable file", path)
	}
	return nil
}

// Beside returns the agent and plugin found in dir (the running executable's
// directory, where a release unpacks all three), and whether both are there.
func Beside(dir string) (Binaries, bool) {
	b := Binaries{Agent: filepath.Join(dir, AgentBinary), Plugin: filepath.Join(dir, PluginBinary)}
	return b, b.Check() == nil
}

// SourceRoot finds the eksnet source tree at or above dir: the directory
// whose go.mod declares Module. ok is false outside a checkout.
func SourceRoot(dir string) (root string, ok bool) {
	for d := dir; ; d = filepath.Dir(d) {
		if modulePath(filepath.Join(d, "go.mod")) == Module {
			return d, true
		}
		if filepath.Dir(d) == d {
			return "", false
		}
	}
}

func modulePath(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// BuildBinaries builds cmd/eksnet-agent and cmd/eksnet-cni of the source
// tree at root into outDir with the go tool on PATH.
func BuildBinaries(ctx context.Context, root, outDir string) (Binaries, error) {
	return build(ctx, root, outDir, false)
}

// BuildRaceAgent is BuildBinaries with the agent built under the race
// detector (cgo on, as -race needs; the plugin stays static), for suites
// that hunt data races in the daemon while they storm it: a race is
// reported in the agent's log as "WARNING: DATA RACE" (see RaceReports).
func BuildRaceAgent(ctx context.Context, root, outDir string) (Binaries, error) {
	return build(ctx, root, outDir, true)
}

// BuildVersion is BuildBinaries with both binaries stamped with version
// (-X main.version, as release builds are), which the agent reports in its
// status: what a test of an upgrade in place tells two builds apart by.
func BuildVersion(ctx context.Context, root, outDir, version string) (Binaries, error) {
	return buildWith(ctx, root, outDir, false, version)
}

func build(ctx context.Context, root, outDir string, raceAgent bool) (Binaries, error) {
	return buildWith(ctx, root, outDir, raceAgent, "")
}

func buildWith(ctx context.Context, root, outDir string, raceAgent bool, version string) (Binaries, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return Binaries{}, fmt.Errorf("building %s and %s from %s: no go tool on PATH: %w", AgentBinary, PluginBinary, root, err)
	}
	b := Binaries{Agent: filepath.Join(outDir, AgentBinary), Plugin: filepath.Join(outDir, PluginBinary)}
	// Static, as on a node: with cgo the net package links libc, and every
	// plugin exec then starts the dynamic loader first, 1.1 ms of a 6-8 ms
	// ADD on this VM (p50 of a bare VERSION call: 2.9 ms dynamic, 1.7 ms
	// static). -trimpath as well: these flags are bundle.Build's, so the
	// two share the build cache, and whichever runs second (TestBuild, or a
	// suite's cluster) links instead of compiling the agent's dependencies
	// a second time (2 minutes cold on 2 cores).
	steps := [][]string{{"CGO_ENABLED=0", "./cmd/" + AgentBinary, "./cmd/" + PluginBinary}}
	if raceAgent {
		steps = [][]string{{"CGO_ENABLED=0", "./cmd/" + PluginBinary}, {"CGO_ENABLED=1", "-race", "./cmd/" + AgentBinary}}
	}
	for _, st := range steps {
		args := []string{"build", "-trimpath", "-o", outDir + string(filepath.Separator)}
		if version != "" {
			args = append(args, "-ldflags=-X main.version="+version)
		}
		args = append(args, st[1:]...)
		cmd := exec.CommandContext(ctx, goTool, args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), st[0])
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), root, err, out)
		}
	}
	return b, b.Check()
}

// RaceReports returns the data races a race-built agent (BuildRaceAgent)
// reported in log, each report from its WARNING line to its closing
// "==================" line.
func RaceReports(log string) []string {
	var reports []string
	for {
		i := strings.Index(log, "WARNING: DATA RACE")
		if i < 0 {
			return reports
		}
		log = log[i:]
		end := strings.Index(log, "\n==================")
		if end < 0 {
			return append(reports, log)
		}
		reports = append(reports, log[:end])
		log = log[end+1:]
	}
}

// BuildFromTree builds the agent and plugin of the source tree at or above
// dir (see SourceRoot) into outDir: what tests and `sim run` from a checkout
// do before they start a cluster.
func BuildFromTree(ctx context.Context, dir, outDir string) (Binaries, error) {
	root, ok := SourceRoot(dir)
	if !ok {
		return Binaries{}, fmt.Errorf("building %s and %s: no eksnet source tree (go.mod of %s) at or above %s", AgentBinary, PluginBinary, Module, dir)
	}
	return BuildBinaries(ctx, root, outDir)
}
