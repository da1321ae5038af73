package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/eksnet/eksnet/sim"
)

// testPostEnv makes the test binary a tiny HTTP client, so tests need no curl.
const testPostEnv = "EKSNET_SIM_TEST_POST"

// TestMain lets this test binary stand in for eksnet when `sim up` re-executes
// itself as the simulation daemon.
func TestMain(m *testing.M) {
	if body := os.Getenv(testPostEnv); body != "" {
		// Run inside a node by `sim exec`: POST body to the EC2 endpoint the
		// node's environment names, print the HTTP status.
		resp, err := http.Post(os.Getenv("EKSNET_EC2_ENDPOINT"), "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
		os.Exit(0)
	}
	if os.Getenv(simDaemonEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := Run(ctx, os.Args[1:])
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "eksnet:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runSim(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err := runWith(ctx, args, &app{stdout: &out, stderr: &errOut, getenv: os.Getenv})
	return out.String() + errOut.String(), err
}

func TestSimUpExecStatusDown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	name := fmt.Sprintf("cli%d", time.Now().UnixNano()%1e8)
	t.Cleanup(func() {
		if _, err := os.Stat(simDir(name)); err == nil {
			_, _ = runSim(t, "sim", "down", name)
		}
		_ = sim.Sweep(name)
	})
	linksBefore := rootLinkNames(t)
	out, err := runSim(t, "sim", "up", "--name", name, "--nodes", "2", "--instance-type", "m5.large")
	if err != nil {
		t.Fatalf("sim up: %v\n%s", err, out)
	}
	st, err := readSimState(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 2 || !strings.Contains(out, st.Nodes[1].InstanceID) {
		t.Fatalf("sim up printed %q, state %+v", out, st)
	}

	if out, err := runSim(t, "sim", "up", "--name", name); err == nil || !strings.Contains(err.Error(), "is running") {
		t.Fatalf("second sim up with the same name: %v\n%s", err, out)
	}

	out, err = runSim(t, "sim", "exec", name, "node-1", "--", "ip", "-4", "-o", "addr", "show", "eth0")
	if err != nil || !strings.Contains(out, st.Nodes[1].PrimaryIP+"/24") {
		t.Fatalf("sim exec: %v\n%s", err, out)
	}
	out, err = runSim(t, "sim", "exec", name, "node-0", "--", "sh", "-c", "echo $AWS_ENDPOINT_URL_EC2 $AWS_EC2_METADATA_SERVICE_ENDPOINT")
	if err != nil || strings.TrimSpace(out) != "http://198.18.1.1 http://169.254.169.254" {
		t.Fatalf("sim exec env: %v\n%q", err, out)
	}
	if _, err := runSim(t, "sim", "exec", name, "node-9", "--", "true"); err == nil || !strings.Contains(err.Error(), "node-0, node-1") {
		t.Fatalf("sim exec on an unknown node: %v", err)
	}

	out, err = runSim(t, "sim", "status", name)
	if err != nil || !strings.Contains(out, "node-1") || !strings.Contains(out, "10.0.1.0/24") {
		t.Fatalf("sim status: %v\n%s", err, out)
	}
	out, err = runSim(t, "sim", "status", name, "-o", "json")
	if err != nil {
		t.Fatalf("sim status -o json: %v\n%s", err, out)
	}
	var js struct {
		Status simStatus `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil || len(js.Status.State.Instances) != 2 {
		t.Fatalf("status json: %v\n%s", err, out)
	}

	out, err = runSim(t, "sim", "faults", name, "--throttle-ratio", "1", "--throttle-actions", "DescribeSubnets")
	if err != nil {
		t.Fatalf("sim faults: %v\n%s", err, out)
	}
	// The daemon's EC2 now throttles DescribeSubnets: prove it from a node.
	t.Setenv(testPostEnv, "Action=DescribeSubnets&Version=2016-11-15")
	out, err = runSim(t, "sim", "exec", name, "node-0", "--", os.Args[0])
	os.Unsetenv(testPostEnv)
	if err != nil || strings.TrimSpace(out) != "503" {
		t.Fatalf("throttled DescribeSubnets from node-0: %v %q, want 503", err, out)
	}
	if out, err := runSim(t, "sim", "faults", name, "--throttle-ratio", "2"); err == nil {
		t.Fatalf("ratio 2 accepted:\n%s", out)
	}
	out, err = runSim(t, "sim", "faults", name, "--reset")
	if err != nil || !strings.Contains(out, "{}") {
		t.Fatalf("sim faults --reset: %v\n%s", err, out)
	}
	out, err = runSim(t, "sim", "status", name)
	if err != nil || !strings.Contains(out, "RequestLimitExceeded") {
		t.Fatalf("status lacks the throttled call: %v\n%s", err, out)
	}

	pid := st.PID
	out, err = runSim(t, "sim", "down", name)
	if err != nil {
		t.Fatalf("sim down: %v\n%s", err, out)
	}
	if left, _ := sim.Namespaces(name); len(left) > 0 {
		t.Fatalf("namespaces left after sim down: %v", left)
	}
	if _, err := os.Stat(simDir(name)); !os.IsNotExist(err) {
		t.Fatalf("state dir left after sim down: %v", err)
	}
	if processAlive(pid) {
		t.Fatalf("daemon pid %d alive after sim down", pid)
	}
	if after := rootLinkNames(t); !slices.Equal(linksBefore, after) {
		t.Fatalf("root namespace links changed: %v -> %v", linksBefore, after)
	}
	if _, err := runSim(t, "sim", "down", name); err == nil {
		t.Fatal("second sim down succeeded; want a clear nothing-to-remove error")
	}
}

// rootLinkNames lists the links of this (the root) namespace: a simulation
// must create none there.
func rootLinkNames(t *testing.T) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		out = append(out, l.Attrs().Name)
	}
	slices.Sort(out)
	return out
}

func TestSimUpRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sim", "up"}, "--name: required"},
		{[]string{"sim", "up", "--name", "Bad_Name"}, "--name"},
		{[]string{"sim", "up", "--name", "x", "--nodes", "-1"}, "--nodes -1"},
		{[]string{"sim", "up", "--name", "x", "--instance-type", "t3.gigantic"}, "--instance-type"},
		{[]string{"sim", "up", "--name", "x", "--vpc-cidr", "10.0.0.0"}, "--vpc-cidr"},
		{[]string{"sim", "exec", "x", "node-0"}, "usage"},
	} {
		_, err := runSim(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}
