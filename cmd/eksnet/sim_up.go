package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/internal/atomicfile"
	"github.com/eksnet/eksnet/sim"
	"github.com/eksnet/eksnet/sim/fakeec2"
	"github.com/eksnet/eksnet/stacks"
)

// simUpOptions are shared by `sim up` and the daemon it starts (`sim serve`).
type simUpOptions struct {
	name         string
	nodes        int
	instanceType string
	vpcCIDR      string
	lag          lagFlags
	timeout      time.Duration
	// With kubernetes, the daemon is a kept `sim run` of preset or stack.
	kubernetes    bool
	preset, stack string
}

func (o *simUpOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "simulation name (a-z, 0-9, '-'; up to 32), prefix of all its namespaces (required)")
	f.IntVar(&o.nodes, "nodes", 2, "number of nodes (node-0, node-1, ...), spread over the subnets")
	f.StringVar(&o.instanceType, "instance-type", "t3.medium", "EC2 instance type of the nodes (sets ENI and address limits)")
	f.StringVar(&o.vpcCIDR, "vpc-cidr", "10.0.0.0/16", "VPC CIDR; two /24 subnets are carved from its start")
	o.lag.bind(f)
}

// validate checks the flags before anything is created.
func (o *simUpOptions) validate() (sim.Config, error) {
	var cfg sim.Config
	if o.name == "" {
		return cfg, errors.New("--name: required (e.g. --name demo)")
	}
	if err := sim.ValidateName(o.name); err != nil {
		return cfg, fmt.Errorf("--name: %w", err)
	}
	if o.nodes < 0 || o.nodes > 64 {
		return cfg, fmt.Errorf("--nodes %d: accepted values are 0 to 64", o.nodes)
	}
	if _, err := sim.TableLimits(o.instanceType); err != nil {
		return cfg, fmt.Errorf("--instance-type %q: %w", o.instanceType, err)
	}
	p, err := netip.ParsePrefix(o.vpcCIDR)
	if err != nil {
		return cfg, fmt.Errorf("--vpc-cidr %q: not a CIDR (e.g. 10.0.0.0/16): %w", o.vpcCIDR, err)
	}
	if err := o.lag.validate(); err != nil {
		return cfg, err
	}
	return sim.Config{Name: o.name, VPCCIDR: p, IMDSDelay: o.lag.imds, DescribeDelay: o.lag.describe}, nil
}

func (o *simUpOptions) args() []string {
	return append([]string{"--name", o.name, "--nodes", strconv.Itoa(o.nodes), "--instance-type", o.instanceType,
		"--vpc-cidr", o.vpcCIDR}, o.lag.args()...)
}

func newSimUpCmd(a *app) *cobra.Command {
	var o simUpOptions
	cmd := &cobra.Command{
		Use:   "up --name NAME [--nodes K] [--instance-type T]",
		Short: "Bring a simulated VPC up and leave it running in a background daemon",
		Example: `  eksnet sim up --name demo --nodes 2 --instance-type t3.medium
  eksnet sim exec demo node-0 -- ip addr
  eksnet sim down demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.kubernetes {
				return simUpKubernetes(cmd, a, o)
			}
			if o.preset != "" || o.stack != "" {
				return fmt.Errorf("--preset/--stack: only with --kubernetes (a plain `sim up` has no stack: its nodes come from --nodes and --instance-type)")
			}
			if _, err := o.validate(); err != nil {
				return err
			}
			if err := simNameFree(o.name); err != nil {
				return err
			}
			st, err := startSimDaemon(cmd.Context(), o.name, append([]string{"sim", "serve"}, o.args()...), o.timeout, nil)
			if err != nil {
				return err
			}
			printSimUp(a, st)
			return nil
		},
	}
	o.bind(cmd)
	f := cmd.Flags()
	f.DurationVar(&o.timeout, "timeout", time.Minute, "how long to wait for the daemon to be ready (with --kubernetes: 30m, a first run builds Kubernetes)")
	f.BoolVar(&o.kubernetes, "kubernetes", false, "bring up a stack's cluster with real Kubernetes, as `sim run --keep` does, in the background (see `sim kubeconfig`)")
	f.StringVar(&o.preset, "preset", "", "with --kubernetes: preset to bring up ("+strings.Join(stacks.PresetNames, ", ")+"; default dev)")
	f.StringVar(&o.stack, "stack", "", "with --kubernetes: stack to bring up (stacks/Pulumi.<ENV>.yaml)")
	return cmd
}

// simUpKubernetes starts `sim run --keep` of the stack as the daemon and
// shows its progress until its cluster is up and published.
func simUpKubernetes(cmd *cobra.Command, a *app, o simUpOptions) error {
	f := cmd.Flags()
	for _, name := range []string{"instance-type", "vpc-cidr"} {
		if f.Changed(name) {
			return fmt.Errorf("--%s: not with --kubernetes: the stack's plan sets the VPC and the nodes (use --preset or --stack)", name)
		}
	}
	if o.name == "" {
		return errors.New("--name: required (e.g. --name demo)")
	}
	if err := sim.ValidateName(o.name); err != nil {
		return fmt.Errorf("--name: %w", err)
	}
	if err := o.lag.validate(); err != nil {
		return err
	}
	if err := simNameFree(o.name); err != nil {
		return err
	}
	args := append([]string{"sim", "run", "--keep", "--name", o.name}, o.lag.args()...)
	switch {
	case o.preset != "" && o.stack != "":
		return fmt.Errorf("--preset %s and --stack %s: give one of them", o.preset, o.stack)
	case o.stack != "":
		args = append(args, "--stack", o.stack)
	default:
		args = append(args, "--preset", cmp.Or(o.preset, stacks.PresetDev))
	}
	if f.Changed("nodes") {
		args = append(args, "--max-nodes", strconv.Itoa(o.nodes))
	}
	timeout := o.timeout
	if !f.Changed("timeout") {
		timeout = 30 * time.Minute
	}
	fmt.Fprintf(a.stderr, "starting `eksnet %s` in the background; its output:\n", strings.Join(args, " "))
	st, err := startSimDaemon(cmd.Context(), o.name, args, timeout, a.stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "simulation %s up with Kubernetes (stack %s, pid %d, log %s)\n", st.Name, st.Stack, st.PID, filepath.Join(simDir(st.Name), "daemon.log"))
	for _, n := range st.Nodes {
		fmt.Fprintf(a.stdout, "  node      %-12s %s %-10s %-12s netns %s\n", n.Name, n.InstanceID, n.InstanceType, n.PrimaryIP, n.NetNS)
	}
	fmt.Fprintf(a.stdout, "next: kubectl --kubeconfig \"$(eksnet sim kubeconfig %s --path)\" get nodes,pods -A -o wide   eksnet sim status %s   eksnet sim down %s\n", st.Name, st.Name, st.Name)
	return nil
}

// simNameFree refuses a name that has state, a daemon or namespaces.
func simNameFree(name string) error {
	if _, err := os.Stat(simDir(name)); err == nil {
		if pid := readPID(name); processAlive(pid) {
			return fmt.Errorf("--name %q: a simulation of that name is running (pid %d); stop it with `eksnet sim down %s` or pick another name", name, pid, name)
		}
		return fmt.Errorf("--name %q: stale state in %s (its daemon is gone); clean it with `eksnet sim down %s`", name, simDir(name), name)
	}
	if nss, err := sim.Namespaces(name); err == nil && len(nss) > 0 {
		return fmt.Errorf("--name %q: namespaces %v exist; clean them with `eksnet sim down %s`", name, nss, name)
	}
	return nil
}

// startSimDaemon re-executes this binary with args (`sim serve`, or a kept
// `sim run`) in its own session, then waits for its state file (ready) or
// its exit (failed). With progress set, the daemon's log is copied there
// while it starts.
func startSimDaemon(ctx context.Context, name string, args []string, timeout time.Duration, progress io.Writer) (simState, error) {
	self, err := os.Executable()
	if err != nil {
		return simState{}, fmt.Errorf("finding the eksnet binary: %w", err)
	}
	dir := simDir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return simState{}, fmt.Errorf("creating %s: %w", dir, err)
	}
	logPath := filepath.Join(dir, "daemon.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return simState{}, fmt.Errorf("opening %s: %w", logPath, err)
	}
	defer logf.Close()
	daemon := exec.Command(self, args...)
	daemon.Stdout, daemon.Stderr = logf, logf
	daemon.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	daemon.Env = append(os.Environ(), simDaemonEnv+"=1")
	if err := daemon.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return simState{}, fmt.Errorf("starting the simulation daemon: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(daemon.Process.Pid)+"\n"), 0o600); err != nil {
		_ = daemon.Process.Kill()
		return simState{}, fmt.Errorf("recording the daemon pid: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- daemon.Wait() }()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var shown int64
	fail := func(why error) (simState, error) {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = daemon.Process.Kill()
		}
		_ = sim.Sweep(name)
		tail := logTail(logPath, 20)
		_ = os.RemoveAll(dir)
		return simState{}, fmt.Errorf("%w\ndaemon log:\n%s", why, tail)
	}
	for {
		select {
		case err := <-exited:
			return fail(fmt.Errorf("simulation daemon exited before it was ready: %v", err))
		case <-deadline.C:
			return fail(fmt.Errorf("simulation daemon not ready after %v", timeout))
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-tick.C:
			if progress != nil {
				shown = copyNew(progress, logPath, shown)
			}
			if st, err := readSimState(name); err == nil {
				return st, nil
			}
		}
	}
}

// copyNew copies what was appended to path since offset to w and returns
// the new offset.
func copyNew(w io.Writer, path string, offset int64) int64 {
	f, err := os.Open(path)
	if err != nil {
		return offset
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset
	}
	n, _ := io.Copy(w, f)
	return offset + n
}

func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log)"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	out := ""
	for _, l := range lines {
		out += "  " + l + "\n"
	}
	return out
}

func printSimUp(a *app, st simState) {
	fmt.Fprintf(a.stdout, "simulation %s up (daemon pid %d)\n", st.Name, st.PID)
	fmt.Fprintf(a.stdout, "  vpc       %s %s\n  ec2       %s\n  imds      %s\n  internet  echo at %s\n",
		st.VPCID, st.VPCCIDR, st.EC2Endpoint, st.IMDSEndpoint, st.InternetEcho)
	for _, n := range st.Nodes {
		fmt.Fprintf(a.stdout, "  node      %-8s %s %-10s %-12s netns %s\n", n.Name, n.InstanceID, n.InstanceType, n.PrimaryIP, n.NetNS)
	}
	fmt.Fprintf(a.stdout, "next: eksnet sim exec %s NODE -- CMD...   eksnet sim status %s   eksnet sim down %s\n", st.Name, st.Name, st.Name)
}

// simDaemonEnv marks the process as the daemon, so `sim serve` is not run by
// hand by mistake.
const simDaemonEnv = "EKSNET_SIM_DAEMON"

func newSimServeCmd(a *app) *cobra.Command {
	var o simUpOptions
	cmd := &cobra.Command{
		Use:    "serve",
		Short:  "Run a simulated VPC in the foreground (the daemon behind `sim up`)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.validate()
			if err != nil {
				return err
			}
			if a.getenv(simDaemonEnv) != "1" {
				return errors.New("sim serve: run by `eksnet sim up`, not by hand")
			}
			cfg.Logger = slog.New(slog.NewTextHandler(a.stderr, nil))
			return serveSim(cmd.Context(), o, cfg)
		},
	}
	o.bind(cmd)
	return cmd
}

// serveSim builds the VPC and its nodes, publishes the state file and the
// control socket, and holds everything until ctx ends (SIGTERM from `sim down`).
func serveSim(ctx context.Context, o simUpOptions, cfg sim.Config) (err error) {
	log := cfg.Logger
	vpc, err := sim.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := vpc.Close(); cerr != nil {
			log.Error("removing the simulated vpc", "err", cerr)
			err = errors.Join(err, cerr)
		}
	}()
	subnets := vpc.Cloud().State().Subnets
	st := simState{Name: vpc.Name(), PID: os.Getpid(), Started: time.Now().UTC(), Region: vpc.Region(),
		VPCID: vpc.Cloud().VPCID(), VPCCIDR: cfg.VPCCIDR.String(), EC2Endpoint: vpc.EC2Endpoint(),
		IMDSEndpoint: vpc.IMDSEndpoint(), InternetEcho: vpc.InternetEcho().String()}
	for i := 0; i < o.nodes; i++ {
		n, err := vpc.AddNode(ctx, sim.NodeSpec{Name: "node-" + strconv.Itoa(i), InstanceType: o.instanceType,
			Subnet: subnets[i%len(subnets)].ID})
		if err != nil {
			return err
		}
		st.Nodes = append(st.Nodes, simNodeState{Name: n.Name, InstanceID: n.InstanceID, InstanceType: n.InstanceType,
			PrimaryIP: n.PrimaryIP.String(), PrimaryMAC: n.PrimaryMAC.String(), NetNS: n.NetNSName(), Env: n.Env()})
	}
	stop, err := publishSim(st, vpc)
	if err != nil {
		return err
	}
	defer stop()
	log.Info("simulation ready", "name", st.Name, "nodes", len(st.Nodes))
	<-ctx.Done()
	log.Info("simulation stopping")
	return nil
}

// publishSim makes a running simulation visible to `sim status/exec/down/
// list`: the control socket, then state.json (its presence means ready).
// stop takes both away again.
func publishSim(st simState, vpc *sim.VPC) (stop func(), err error) {
	dir, sock := simDir(st.Name), simSocket(st.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", sock, err)
	}
	srv := &http.Server{Handler: simControlHandler(vpc), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stop = func() {
		_ = os.Remove(filepath.Join(dir, "state.json"))
		_ = srv.Close()
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err == nil {
		// Atomic, so `sim status` and `sim exec` never read half a state
		// file; root-only, as the simulation it describes.
		err = atomicfile.WriteFile(filepath.Join(dir, "state.json"), b, 0o600)
	}
	if err != nil {
		stop()
		return nil, fmt.Errorf("writing the state file: %w", err)
	}
	return stop, nil
}

// simStatus is the daemon's answer to GET /status.
type simStatus struct {
	State  fakeec2.State     `json:"state"`
	Calls  sim.CallStats     `json:"calls"`
	Faults sim.FaultSettings `json:"faults"`
}

func simControlHandler(vpc *sim.VPC) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		calls := vpc.Calls()
		if len(calls.Log) > 50 {
			calls.Log = calls.Log[len(calls.Log)-50:]
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(simStatus{State: vpc.Cloud().State(), Calls: calls, Faults: vpc.Faults().Get()})
	})
	mux.HandleFunc("PUT /faults", func(w http.ResponseWriter, r *http.Request) {
		var s sim.FaultSettings
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			http.Error(w, "decoding fault settings: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := vpc.Faults().Set(s); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}
