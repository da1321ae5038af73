package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/eksnet/eksnet/cni-agent/cniconf"
	"github.com/eksnet/eksnet/cni-agent/datapath/netnstest"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// TestRuntimeDrivesTheInstalledConflist installs the plugin and the conflist
// with cniconf, as the agent does on a node, and drives them with libcni as
// containerd 2 and CRI-O do: the conflist declares "cniVersion": "1.0.0"
// (for containerd 1.7's libcni v1.1.2) but lists 1.1.0 in "cniVersions", so
// this libcni must still call the plugin with 1.1.0 and send GC and STATUS,
// which it silently skips for older versions. A runtime that ignores
// "cniVersions" calls with 1.0.0, and ADD must answer in 1.0.0.
func TestRuntimeDrivesTheInstalledConflist(t *testing.T) {
	e := newEnv(t, newAgent(2, "10.0.1.5", "10.0.1.6", "10.0.1.7"))
	dir := t.TempDir()
	c := cniconf.Config{
		ConfDir: filepath.Join(dir, "net.d"), BinDir: filepath.Join(dir, "bin"), PluginSource: pluginBin,
		NetworkName: cniconf.DefaultNetworkName, SocketPath: e.socket, VethPrefix: cniconf.DefaultVethPrefix, MTU: 9001,
	}
	if err := cniconf.Install(c); err != nil {
		t.Fatal(err)
	}
	list, err := libcni.LoadConfList(c.ConfDir, c.NetworkName)
	if err != nil {
		t.Fatalf("loading the installed conflist: %v", err)
	}
	if list.CNIVersion != "1.1.0" {
		t.Fatalf("libcni picked cniVersion %q from the conflist, want 1.1.0 (from cniVersions)", list.CNIVersion)
	}
	rt := libcni.NewCNIConfigWithCacheDir([]string{c.BinDir}, filepath.Join(dir, "cache"), nil)
	pod := netnstest.New(t, "pod")
	web := &libcni.RuntimeConf{ContainerID: "web", NetNS: pod.Path, IfName: "eth0",
		Args: [][2]string{{"K8S_POD_NAMESPACE", "default"}, {"K8S_POD_NAME", "web-0"}}}

	// The runtime execs the plugin from the node's network namespace.
	e.node.Do(t, func() error {
		res, err := rt.AddNetworkList(t.Context(), list, web)
		if err != nil {
			return err
		}
		if got := addressOf(t, res); res.Version() != "1.1.0" || got != "10.0.1.5/32" {
			t.Errorf("ADD answered version %s with %s, want 1.1.0 with 10.0.1.5/32", res.Version(), got)
		}
		return rt.CheckNetworkList(t.Context(), list, web)
	})

	// GC must reach the plugin: libcni itself only DELs attachments in its
	// cache, and this stale allocation is only in the agent.
	if _, err := e.agent.Allocate(t.Context(), rpc.AllocateRequest{Key: rpc.Key{Network: c.NetworkName, ContainerID: "stale", IfName: "eth0"}}); err != nil {
		t.Fatal(err)
	}
	e.node.Do(t, func() error {
		return rt.GCNetworkList(t.Context(), list, &libcni.GCArgs{ValidAttachments: []types.GCAttachment{{ContainerID: "web", IfName: "eth0"}}})
	})
	held, err := e.agent.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 || held[0].Key.ContainerID != "web" {
		t.Fatalf("after GC the agent holds %v, want only web's allocation (GC did not reach the plugin?)", held)
	}

	// STATUS must reach the plugin: libcni answers nil on its own below 1.1.0.
	e.node.Do(t, func() error { return rt.GetStatusNetworkList(t.Context(), list) })
	e.agent.mu.Lock()
	e.agent.reason = "warming up"
	e.agent.mu.Unlock()
	var statusErr error
	e.node.Do(t, func() error { statusErr = rt.GetStatusNetworkList(t.Context(), list); return nil })
	var cniErr *types.Error
	if !errors.As(statusErr, &cniErr) || cniErr.Code != 50 || !strings.Contains(cniErr.Msg, "warming up") {
		t.Fatalf("STATUS with the agent not ready: %v, want CNI error 50 naming the reason", statusErr)
	}
	e.agent.mu.Lock()
	e.agent.reason = ""
	e.agent.mu.Unlock()

	// A runtime that ignores cniVersions (libcni v1.1.x) calls with 1.0.0.
	old := *list
	old.CNIVersion = cniconf.CNIVersion
	db := &libcni.RuntimeConf{ContainerID: "db", NetNS: netnstest.New(t, "pod").Path, IfName: "eth0",
		Args: [][2]string{{"K8S_POD_NAMESPACE", "default"}, {"K8S_POD_NAME", "db-0"}}}
	e.node.Do(t, func() error {
		res, err := rt.AddNetworkList(t.Context(), &old, db)
		if err != nil {
			return err
		}
		if res.Version() != "1.0.0" || addressOf(t, res) == "" {
			t.Errorf("ADD called with 1.0.0 answered version %s with %q", res.Version(), addressOf(t, res))
		}
		return rt.DelNetworkList(t.Context(), &old, db)
	})

	e.node.Do(t, func() error { return rt.DelNetworkList(t.Context(), list, web) })
	if n := e.agent.allocations(); n != 0 {
		t.Fatalf("%d allocations left after DEL", n)
	}
	if n := e.vethCount(cniconf.DefaultVethPrefix); n != 0 {
		t.Fatalf("%d veths left after DEL", n)
	}
}

// addressOf is the first address of an ADD result.
func addressOf(t *testing.T, res types.Result) string {
	t.Helper()
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		t.Fatalf("converting the ADD result: %v", err)
	}
	if len(r.IPs) == 0 {
		return ""
	}
	return r.IPs[0].Address.String()
}
