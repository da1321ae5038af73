package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/sim"
)

// simStateRoot holds one directory per running simulation (pid, state.json,
// control socket, daemon log). It is under /run: a reboot clears it, as it
// clears the namespaces.
const simStateRoot = "/run/eksnet-sim"

// newSimCmd is the `eksnet sim` parent. A new subcommand (e.g. `sim run`)
// adds its constructor to the list below, one line, from its own file.
func newSimCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a simulated VPC (fake EC2 and IMDS over real network namespaces) on this machine",
		Long: `A simulated VPC built from real network namespaces, veths and bridges (root needed):
a VPC router, nodes whose eth0/ethN are ENIs, an "internet" with an echo service,
and fake EC2 and IMDSv2 endpoints that the real AWS SDK reaches from inside a node.
See docs/sim.md.`,
	}
	cmd.AddCommand(
		newSimUpCmd(a),
		newSimServeCmd(a),
		newSimExecCmd(a),
		newSimStatusCmd(a),
		newSimDownCmd(a),
		newSimFaultsCmd(a),
		newSimRunCmd(a),
		newSimListCmd(a),
		newSimKubeconfigCmd(a),
	)
	return cmd
}

// simState is what `sim up` leaves for the other subcommands in state.json.
type simState struct {
	Name string `json:"name"`
	// Kind is "vpc" for `sim up`, "run" for a `sim run --keep` cluster.
	Kind string `json:"kind,omitempty"`
	// Stack is the stack a kept run built.
	Stack string `json:"stack,omitempty"`
	// Kubeconfig is the cluster-admin kubeconfig of a kept run with
	// Kubernetes (see `sim kubeconfig`).
	Kubeconfig   string         `json:"kubeconfig,omitempty"`
	PID          int            `json:"pid"`
	Started      time.Time      `json:"started"`
	Region       string         `json:"region"`
	VPCID        string         `json:"vpcId"`
	VPCCIDR      string         `json:"vpcCidr"`
	EC2Endpoint  string         `json:"ec2Endpoint"`
	IMDSEndpoint string         `json:"imdsEndpoint"`
	InternetEcho string         `json:"internetEcho"`
	Nodes        []simNodeState `json:"nodes"`
}

type simNodeState struct {
	Name         string   `json:"name"`
	InstanceID   string   `json:"instanceId"`
	InstanceType string   `json:"instanceType"`
	PrimaryIP    string   `json:"primaryIp"`
	PrimaryMAC   string   `json:"primaryMac"`
	NetNS        string   `json:"netns"`
	Env          []string `json:"env"`
}

func simDir(name string) string { return filepath.Join(simStateRoot, name) }

func simSocket(name string) string { return filepath.Join(simDir(name), "ctl.sock") }

// readSimState loads state.json of the named simulation.
func readSimState(name string) (simState, error) {
	var st simState
	if err := sim.ValidateName(name); err != nil {
		return st, err
	}
	b, err := os.ReadFile(filepath.Join(simDir(name), "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("simulation %q: not running (no %s; start it with `eksnet sim up --name %s`)", name, simDir(name), name)
	}
	if err != nil {
		return st, fmt.Errorf("reading state of simulation %q: %w", name, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("parsing state of simulation %q: %w", name, err)
	}
	return st, nil
}

// readPID returns the daemon pid recorded by `sim up`, 0 if none.
func readPID(name string) int {
	b, err := os.ReadFile(filepath.Join(simDir(name), "pid"))
	if err != nil {
		return 0
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil {
		return 0
	}
	return pid
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// liveSimStatus reads a running simulation's state file and asks its daemon
// for the current status; a daemon that is gone is an error saying how to
// clean up.
func liveSimStatus(ctx context.Context, name string) (simState, simStatus, error) {
	st, err := readSimState(name)
	if err != nil {
		return st, simStatus{}, err
	}
	if !processAlive(st.PID) {
		return st, simStatus{}, fmt.Errorf("simulation %q: daemon pid %d is gone; clean up with `eksnet sim down %s`", name, st.PID, name)
	}
	var s simStatus
	if err := simGet(ctx, name, "/status", &s); err != nil {
		return st, simStatus{}, err
	}
	return st, s, nil
}

// simControl is an HTTP client for the daemon's control socket.
func simControl(name string) *http.Client {
	sock := simSocket(name)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

// simGet fetches path from the daemon and decodes the JSON answer into v.
func simGet(ctx context.Context, name, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://sim"+path, nil)
	if err != nil {
		return err
	}
	resp, err := simControl(name).Do(req)
	if err != nil {
		return fmt.Errorf("asking simulation %q daemon (%s): %w", name, simSocket(name), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("simulation %q daemon answered %s: %s", name, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
