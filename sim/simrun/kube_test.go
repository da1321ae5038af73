package simrun

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/sim"
	"github.com/eksnet/eksnet/sim/kube"
	"github.com/eksnet/eksnet/sim/simcluster"
)

// kubeOptions builds (or takes from the cache) the upstream binaries and
// the local images' programs for the Kubernetes layer.
func kubeOptions(t *testing.T) *KubeOptions {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cache, err := kube.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	bins, err := kube.EnsureBinaries(ctx, cache, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	wd, _ := os.Getwd()
	root, _ := simcluster.SourceRoot(wd)
	pause, echo, err := kube.BuildImageBinaries(ctx, root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &KubeOptions{Bins: bins, PauseBin: pause, EchoBin: echo, WaitTimeout: 2 * time.Minute}
}

// oneNodeSpec is one t3.medium agent node whose kubelet gets maxPods
// kubeletMaxPods while its agent is told EKSNET_MAX_PODS 16.
func oneNodeSpec(kubeletMaxPods int) Spec {
	s := devSpec()
	s.NodeGroups[0].DesiredSize = 1
	s.NodeGroups[0].MaxPods = kubeletMaxPods
	return s
}

func runKube(t *testing.T, spec Spec) *Report {
	t.Helper()
	needRoot(t)
	ko := kubeOptions(t)
	name := uniqueName("srk8s")
	t.Cleanup(func() { _ = sim.Sweep(name) })
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	bins := testBinaries(t)
	bins.Companions = ko.Bins.CNIDir
	var progress bytes.Buffer
	rep, _, err := Run(ctx, spec, Options{Binaries: bins, SimName: name, Progress: &progress, Kubernetes: ko})
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, progress.String())
	}
	var text bytes.Buffer
	_ = WriteText(&text, rep)
	t.Logf("progress:\n%s\nreport:\n%s", progress.String(), text.String())
	return rep
}

// TestKubeRun is the short form of `sim run` with Kubernetes that CI runs:
// one node judged by a real kubelet, scheduler, containerd and kube-proxy.
// Every check must pass, the full node must run exactly max pods minus its
// host-network pods, and one pod more must stay Pending: Too many pods.
func TestKubeRun(t *testing.T) {
	rep := runKube(t, oneNodeSpec(16))
	for _, c := range rep.Checks {
		if !c.OK && !c.Skipped {
			t.Errorf("check %q failed: %s", c.Name, c.Detail)
		}
	}
	for _, want := range []string{"nodes NotReady until the agent's conflist, then Ready", "hostPort reachable on the node IP (portmap)",
		"node general-0 runs max pods minus host-network pods", "ClusterIP Service reached through kube-proxy",
		"NodePort Service reached through kube-proxy", "one replica more stays Pending: Too many pods"} {
		found := false
		for _, c := range rep.Checks {
			found = found || c.Name == want
		}
		if !found {
			t.Errorf("no check %q in the report", want)
		}
	}
	if k := rep.Nodes[0].Kube; k == nil || k.Running != 15 || k.MaxPods != 16 || len(k.HostNetworkPods) != 1 {
		t.Errorf("node report %+v: want 15 pods Running of max pods 16 with kube-proxy as the one host-network pod", rep.Nodes[0].Kube)
	}
}

// TestKubeRunFailsATooHighMaxPods: kubelet told one pod more than the
// agent can address admits a pod that never starts; the fill check must
// fail naming the node and both counts.
func TestKubeRunFailsATooHighMaxPods(t *testing.T) {
	rep := runKube(t, oneNodeSpec(17))
	for _, c := range rep.Checks {
		if c.Name != "node general-0 runs max pods minus host-network pods" {
			continue
		}
		if c.OK || !strings.Contains(c.Detail, "15 pods Running, want 16") || !strings.Contains(c.Detail, "not Running") {
			t.Fatalf("fill check %+v: want a failure saying 15 pods Running, want 16, and the pod that is not Running", c)
		}
		// The pod kubelet admitted but could not wire says why: kubelet's
		// FailedCreatePodSandBox event carries the plugin's error.
		if !strings.Contains(c.Detail, "FailedCreatePodSandBox") || !strings.Contains(c.Detail, "node full") {
			t.Fatalf("fill check detail %q: want the stuck pod's FailedCreatePodSandBox event with the plugin's node-full error", c.Detail)
		}
		return
	}
	t.Fatalf("no fill check in %+v", rep.Checks)
}
