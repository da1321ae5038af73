package simrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eksnet/eksnet/sim"
	"github.com/eksnet/eksnet/sim/simcluster"
)

// binDir holds the node binaries, built by the first test that needs them
// (testBinaries), so tests that boot no node do not wait for a build.
var (
	binDir    string
	binsOnce  sync.Once
	testBins  simcluster.Binaries
	binsError error
)

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "simrun-bins-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// testBinaries builds eksnet-agent and eksnet-cni from this tree once.
func testBinaries(t *testing.T) simcluster.Binaries {
	t.Helper()
	binsOnce.Do(func() {
		wd, _ := os.Getwd()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		testBins, binsError = simcluster.BuildFromTree(ctx, wd, binDir)
	})
	if binsError != nil {
		t.Fatal(binsError)
	}
	return testBins
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
}

func uniqueName(tag string) string { return fmt.Sprintf("%s%d", tag, time.Now().UnixNano()%1e8) }

// TestRunDevSpec: the dev layout (two t3.medium nodes in two AZs, agent
// settings as user data writes them) with 7 pods per node passes every
// check, reports what it did, and leaves nothing behind.
func TestRunDevSpec(t *testing.T) {
	needRoot(t)
	name := uniqueName("srdev")
	t.Cleanup(func() { _ = sim.Sweep(name) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, kept, err := Run(ctx, devSpec(), Options{PodsPerNode: 7, Binaries: testBinaries(t), SimName: name, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if kept != nil {
		t.Fatal("Run without Keep returned a live cluster")
	}
	var text bytes.Buffer
	if err := WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("progress:\n%s\nreport:\n%s", progress.String(), text.String())
	if !rep.OK || len(rep.Failed()) > 0 {
		t.Fatalf("dev run failed: %+v", rep.Failed())
	}
	if len(rep.Nodes) != 2 || rep.Nodes[0].AZ == rep.Nodes[1].AZ {
		t.Fatalf("nodes %+v: want two, one per AZ", rep.Nodes)
	}
	perNode := 0
	for _, n := range rep.Nodes {
		if n.Wired != 7 || n.Promised != 15 || n.AgentCapacity != 15 || n.ENIs < 2 || n.EC2Calls < 3 {
			t.Fatalf("node %s: wired %d, promised %d, agent capacity %d, ENIs %d, EC2 calls %d; want 7, 15, 15, >= 2, >= 3 (create, attach, assign)",
				n.Name, n.Wired, n.Promised, n.AgentCapacity, n.ENIs, n.EC2Calls)
		}
		perNode += n.EC2Calls
	}
	if perNode != rep.EC2Calls.Total {
		t.Fatalf("EC2 calls per node add up to %d, the total is %d", perNode, rep.EC2Calls.Total)
	}
	want := map[string]bool{"agents ready": false, "node group general pods wired": false, "pod <-> pod on one node": false,
		"pod <-> pod across nodes without NAT": false, "pod -> internet SNATed to the node IP": false}
	for _, c := range rep.Checks {
		if _, ok := want[c.Name]; ok {
			if !c.OK || c.Skipped {
				t.Errorf("check %s: %+v", c.Name, c)
			}
			want[c.Name] = true
		}
	}
	for c, seen := range want {
		if !seen {
			t.Errorf("check %q missing from the report", c)
		}
	}
	if rep.EC2Calls.ByAction["AttachNetworkInterface"] < 2 || rep.AddLatency.Count != 14 || rep.AddLatency.P50 <= 0 || rep.AddLatency.P99 < rep.AddLatency.P50 {
		t.Fatalf("EC2 calls %+v, ADD latency %+v: want an ENI attached per node and 14 ADD samples", rep.EC2Calls, rep.AddLatency)
	}
	for _, step := range []string{"building the simulated VPC", "agent ready", "7/7 pods wired", "checking traffic", "tearing down"} {
		if !strings.Contains(progress.String(), step) {
			t.Errorf("progress never said %q", step)
		}
	}
	var back Report
	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil || json.Unmarshal(js.Bytes(), &back) != nil || !back.OK || len(back.Nodes) != 2 {
		t.Fatalf("JSON report does not round-trip: %v\n%s", err, js.String())
	}
	if left, err := sim.Namespaces(name); err != nil || len(left) > 0 {
		t.Fatalf("namespaces left after the run: %v %v", left, err)
	}
}

// TestRunOneSubnet: two nodes in one subnet reach each other's pods with
// the pods' own addresses (the VPC router delivers between them, as EC2's
// fabric does; there is no shared L2).
func TestRunOneSubnet(t *testing.T) {
	needRoot(t)
	name := uniqueName("sr1sn")
	t.Cleanup(func() { _ = sim.Sweep(name) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	spec := devSpec()
	spec.NodeGroups[0].Subnets = []string{"private-a"}
	rep, _, err := Run(ctx, spec, Options{PodsPerNode: 3, Binaries: testBinaries(t), SimName: name})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Nodes[0].SubnetCIDR != rep.Nodes[1].SubnetCIDR {
		t.Fatalf("nodes in %s and %s, want one subnet", rep.Nodes[0].SubnetCIDR, rep.Nodes[1].SubnetCIDR)
	}
	for _, c := range rep.Checks {
		if c.Name == "pod <-> pod across nodes without NAT" && (!c.OK || c.Skipped || !strings.HasPrefix(c.Detail, "4 of 4")) {
			t.Fatalf("across one subnet: %+v", c)
		}
	}
	if !rep.OK {
		t.Fatalf("failed: %+v", rep.Failed())
	}
}

// TestRunFailsABrokenPromise: the instance table (and so the user data)
// promises a t3.medium max pods 17, 15 pod addresses, but this simulated
// EC2 attaches only two ENIs to it (10 addresses): the node group's check
// fails naming the group, the promise and what the node achieved.
func TestRunFailsABrokenPromise(t *testing.T) {
	needRoot(t)
	name := uniqueName("srbad")
	t.Cleanup(func() { _ = sim.Sweep(name) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	spec := devSpec()
	spec.NodeGroups[0].DesiredSize = 1
	stingy, err := EC2Limits([]string{"t3.medium=2"})
	if err != nil {
		t.Fatal(err)
	}
	rep, _, err := Run(ctx, spec, Options{Binaries: testBinaries(t), SimName: name, Limits: stingy, StallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	_ = WriteText(&text, rep)
	t.Logf("report:\n%s", text.String())
	if rep.OK {
		t.Fatal("a node that wires 10 of the 15 promised pods passed")
	}
	var wired *Check
	for _, c := range rep.Failed() {
		if c.Name == "node group general pods wired" {
			wired = &c
		}
	}
	if wired == nil {
		t.Fatalf("failed checks %+v: want the node group's pods-wired check among them", rep.Failed())
	}
	for _, s := range []string{"node group general", "max pods 16", "15 pod addresses", "wired 10"} {
		if !strings.Contains(wired.Detail, s) {
			t.Errorf("failure %q does not say %q", wired.Detail, s)
		}
	}
	if rep.Nodes[0].Wired != 10 {
		t.Fatalf("node wired %d, want 10 (2 ENIs x 5 secondary addresses)", rep.Nodes[0].Wired)
	}
	// What it did wire works.
	for _, c := range rep.Checks {
		if strings.HasPrefix(c.Name, "pod ") && !c.OK && !c.Skipped {
			t.Errorf("traffic check %s failed: %s", c.Name, c.Detail)
		}
	}
}

// TestRunKeep: with Keep the cluster outlives Run, its pods still wired,
// until the caller closes it.
func TestRunKeep(t *testing.T) {
	needRoot(t)
	name := uniqueName("srkeep")
	t.Cleanup(func() { _ = sim.Sweep(name) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	spec := devSpec()
	rep, kept, err := Run(ctx, spec, Options{PodsPerNode: 2, Keep: true, Binaries: testBinaries(t), SimName: name})
	if err != nil {
		t.Fatal(err)
	}
	if kept == nil || !rep.Kept || !rep.OK {
		var b bytes.Buffer
		_ = WriteText(&b, rep)
		t.Fatalf("Keep: cluster returned %v, kept %v, ok %v\n%s", kept != nil, rep.Kept, rep.OK, b.String())
	}
	nodes := kept.Nodes()
	if len(nodes) != 2 || !nodes[0].Running() {
		t.Fatalf("kept cluster: %d nodes, first agent running %v", len(nodes), len(nodes) > 0 && nodes[0].Running())
	}
	st, err := nodes[0].Status(ctx)
	if err != nil || st.Assigned != 2 {
		t.Fatalf("kept node's agent: %+v %v, want 2 assigned", st, err)
	}
	if pids := agentsOf(t, name); len(pids) != 2 {
		t.Fatalf("kept cluster: agent processes %v, want the 2 agents", pids)
	}
	if err := kept.Close(); err != nil {
		t.Fatal(err)
	}
	if pids := agentsOf(t, name); len(pids) > 0 {
		t.Fatalf("agents still running after Close: %v", pids)
	}
	if left, err := sim.Namespaces(name); err != nil || len(left) > 0 {
		t.Fatalf("namespaces left after Close: %v %v", left, err)
	}
}

// TestRunInterrupted: a run cancelled while it fills nodes (Ctrl-C) returns
// the cancellation and still leaves no namespace and no agent behind.
func TestRunInterrupted(t *testing.T) {
	needRoot(t)
	name := uniqueName("srint")
	t.Cleanup(func() { _ = sim.Sweep(name) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() { // cancel once the first pods are wired, as a user pressing Ctrl-C
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "pods wired") {
				cancel()
			}
		}
	}()
	_, kept, err := Run(ctx, devSpec(), Options{Binaries: testBinaries(t), SimName: name, Progress: pw, Keep: true})
	pw.Close()
	if !errors.Is(err, context.Canceled) || kept != nil {
		t.Fatalf("interrupted run: cluster %v, error %v; want context.Canceled and no cluster, even with Keep", kept, err)
	}
	if left, err := sim.Namespaces(name); err != nil || len(left) > 0 {
		t.Fatalf("namespaces left after an interrupted run: %v %v", left, err)
	}
	if pids := agentsOf(t, name); len(pids) > 0 {
		t.Fatalf("agents of %s still running: %v", name, pids)
	}
}

// agentsOf lists processes whose environment names the simulation (every
// node process gets EKSNET_SIM_NAME).
func agentsOf(t *testing.T, name string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		if bytes.Contains(env, []byte("EKSNET_SIM_NAME="+name+"\x00")) {
			out = append(out, e.Name())
		}
	}
	return out
}
