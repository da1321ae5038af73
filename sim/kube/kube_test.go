package kube

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/eksnet/eksnet/sim"
	"github.com/eksnet/eksnet/sim/simcluster"
)

var (
	testAgent        simcluster.Binaries
	testBins         Binaries
	testPause, tEcho string
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // the cluster tests skip
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "kube-test-bins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	wd, _ := os.Getwd()
	if testAgent, err = simcluster.BuildFromTree(ctx, wd, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	root, _ := simcluster.SourceRoot(wd)
	if testPause, tEcho, err = BuildImageBinaries(ctx, root, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cache, err := CacheDir()
	if err == nil {
		testBins, err = EnsureBinaries(ctx, cache, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func TestNodeJoinsAndRunsPods(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sc, err := simcluster.New(ctx, simcluster.Config{Binaries: testAgent, Logger: slog.New(slog.DiscardHandler),
		VPC: sim.Config{Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	kc, err := StartCluster(ctx, ClusterConfig{Sim: sc, Bins: testBins, PauseBin: testPause, EchoBin: tEcho,
		ServiceCIDR: netip.MustParsePrefix("172.20.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	n, err := sc.AddNode(ctx, simcluster.NodeSpec{Name: "n0", InstanceType: "t3.medium"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.Join(ctx, n, NodeSettings{Config: map[string]any{"maxPods": 16, "clusterDNS": []any{"172.20.0.10"}}}); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := kc.Client()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		node, err := c.Node(ctx, "n0")
		if err == nil && node.Condition("Ready").Status == "True" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node never Ready: %+v %v", node.Condition("Ready"), err)
		}
		time.Sleep(time.Second)
	}
	t.Log("node ready")
}
