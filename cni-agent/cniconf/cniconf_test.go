package cniconf

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

func validConfig(t *testing.T) Config {
	dir := t.TempDir()
	src := filepath.Join(dir, "build", "eksnet-cni")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho plugin v1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return Config{
		ConfDir: filepath.Join(dir, "etc", "cni", "net.d"), BinDir: filepath.Join(dir, "opt", "cni", "bin"),
		PluginSource: src, NetworkName: DefaultNetworkName, SocketPath: "/run/eksnet/agent.sock",
		VethPrefix: DefaultVethPrefix, MTU: 9001,
	}
}

func TestRenderIsWhatTheRuntimeParses(t *testing.T) {
	c := validConfig(t)
	b, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "cniVersion": "1.0.0",
  "cniVersions": [
    "0.4.0",
    "1.0.0",
    "1.1.0"
  ],
  "name": "eksnet",
  "plugins": [
    {
      "type": "eksnet-cni",
      "socketPath": "/run/eksnet/agent.sock",
      "vethPrefix": "eni",
      "mtu": 9001
    }
  ]
}
`
	if string(b) != want {
		t.Fatalf("conflist:\n%s\nwant:\n%s", b, want)
	}
	list, err := libcni.ConfListFromBytes(b)
	if err != nil {
		t.Fatalf("libcni rejects the conflist: %v", err)
	}
	// libcni v1.3 (containerd 2, CRI-O) reads "cniVersions" and picks the
	// newest it implements, so GC and STATUS are still called.
	if list.Name != "eksnet" || list.CNIVersion != "1.1.0" || len(list.Plugins) != 1 || list.Plugins[0].Network.Type != PluginType {
		t.Fatalf("libcni read %+v", list)
	}
	var pc PluginConf
	if err := json.Unmarshal(list.Plugins[0].Bytes, &pc); err != nil || pc.SocketPath != c.SocketPath || pc.VethPrefix != "eni" || pc.MTU != 9001 {
		t.Fatalf("plugin entry = %+v, %v", pc, err)
	}
}

// TestConflistVersions pins the version choice: "cniVersion" is 1.0.0, the
// newest result version libcni v1.1.x (containerd 1.7) can parse, since it
// ignores "cniVersions"; "cniVersions" lists every version the plugin
// speaks, so newer runtimes still pick 1.1.0.
func TestConflistVersions(t *testing.T) {
	b, err := Render(validConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		CNIVersion  string   `json:"cniVersion"`
		CNIVersions []string `json:"cniVersions"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.CNIVersion != "1.0.0" {
		t.Errorf(`"cniVersion" = %q, want "1.0.0" (containerd 1.7's libcni v1.1.2 cannot parse a newer result)`, raw.CNIVersion)
	}
	if got := strings.Join(raw.CNIVersions, ","); got != "0.4.0,1.0.0,1.1.0" {
		t.Errorf(`"cniVersions" = %q, want "0.4.0,1.0.0,1.1.0"`, got)
	}
	if !slices.Contains(SupportedVersions, CNIVersion) {
		t.Errorf("CNIVersion %q is not one the plugin supports (%v)", CNIVersion, SupportedVersions)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"relative conf dir", func(c *Config) { c.ConfDir = "net.d" }, `ConfDir "net.d": must be an absolute path`},
		{"no bin dir", func(c *Config) { c.BinDir = "" }, "BinDir"},
		{"relative socket", func(c *Config) { c.SocketPath = "agent.sock" }, "SocketPath"},
		{"relative log", func(c *Config) { c.LogFile = "x.log" }, "LogFile"},
		{"bad network name", func(c *Config) { c.NetworkName = "-eks net" }, "NetworkName"},
		{"empty network name", func(c *Config) { c.NetworkName = "" }, "NetworkName"},
		{"long veth prefix", func(c *Config) { c.VethPrefix = "verylong" }, "VethPrefix \"verylong\": must be 1 to 7"},
		{"veth prefix with dash", func(c *Config) { c.VethPrefix = "e-" }, "VethPrefix"},
		{"tiny mtu", func(c *Config) { c.MTU = 100 }, "MTU 100"},
		{"huge mtu", func(c *Config) { c.MTU = 9002 }, "MTU 9002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if err := Install(c); err == nil {
				t.Fatal("Install accepted an invalid config")
			}
			if _, err := os.Stat(filepath.Join(c.ConfDir, ConflistName)); err == nil {
				t.Fatal("an invalid config left a conflist behind")
			}
		})
	}
}

func TestInstallUninstall(t *testing.T) {
	c := validConfig(t)
	if err := Install(c); err != nil {
		t.Fatal(err)
	}
	if err := Install(c); err != nil {
		t.Fatalf("second Install: %v", err)
	}
	bin := filepath.Join(c.BinDir, PluginType)
	fi, err := os.Stat(bin)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("plugin binary: %v, %v", fi, err)
	}
	if b, _ := os.ReadFile(bin); !bytes.Equal(b, []byte("#!/bin/sh\necho plugin v1\n")) {
		t.Fatalf("plugin binary content = %q", b)
	}
	list, err := libcni.LoadConfList(c.ConfDir, DefaultNetworkName)
	if err != nil {
		t.Fatalf("the runtime cannot find the network: %v", err)
	}
	if list.Plugins[0].Network.Type != PluginType {
		t.Fatalf("plugin type = %q", list.Plugins[0].Network.Type)
	}
	for _, dir := range []string{c.ConfDir, c.BinDir} {
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Fatalf("%s holds %d entries, want 1 (no temporary files left): %v", dir, len(entries), entries)
		}
	}

	if err := Uninstall(c); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bin, filepath.Join(c.ConfDir, ConflistName)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s still there after Uninstall: %v", p, err)
		}
	}
	if err := Uninstall(c); err != nil {
		t.Fatalf("second Uninstall: %v", err)
	}
}

func TestInstallPluginLeavesTheConflistAlone(t *testing.T) {
	c := validConfig(t)
	if err := InstallPlugin(c); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(c.BinDir, PluginType)); err != nil || !strings.Contains(string(b), "plugin v1") {
		t.Fatalf("plugin = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(c.ConfDir, ConflistName)); !os.IsNotExist(err) {
		t.Fatalf("InstallPlugin wrote a conflist (stat: %v)", err)
	}
}

func TestInstallMissingPluginWritesNothing(t *testing.T) {
	c := validConfig(t)
	c.PluginSource = filepath.Join(t.TempDir(), "nope")
	err := Install(c)
	if err == nil || !strings.Contains(err.Error(), "PluginSource") {
		t.Fatalf("err = %v, want a PluginSource error", err)
	}
	if _, err := os.Stat(filepath.Join(c.ConfDir, ConflistName)); !os.IsNotExist(err) {
		t.Fatal("a conflist was written although the plugin could not be installed")
	}
}

// TestReadersNeverSeeHalfAFile rewrites the conflist with alternating
// contents while readers parse it as fast as they can: every read must be a
// complete, valid conflist.
func TestReadersNeverSeeHalfAFile(t *testing.T) {
	c := validConfig(t)
	if err := Install(c); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(c.ConfDir, ConflistName)
	var stop atomic.Bool
	var bad atomic.Value
	var reads atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				b, err := os.ReadFile(path)
				if err != nil {
					bad.Store("read: " + err.Error())
					return
				}
				if _, err := libcni.ConfListFromBytes(b); err != nil {
					bad.Store("parse: " + err.Error() + ": " + string(b))
					return
				}
				reads.Add(1)
			}
		}()
	}
	for i := range 50 {
		c.MTU = 1500 + i%2*7501
		c.LogFile = strings.Repeat("/l", 1+i%50) // vary the size too
		if err := Install(c); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatalf("a reader saw a broken conflist: %v", v)
	}
	if reads.Load() == 0 {
		t.Fatal("readers never read")
	}
}

// TestInstallCompanions: loopback and portmap found beside the plugin are
// installed with it, and only an installed portmap is chained.
func TestInstallCompanions(t *testing.T) {
	for _, with := range []bool{false, true} {
		c := validConfig(t)
		if with {
			for _, name := range CompanionPlugins {
				if err := os.WriteFile(filepath.Join(filepath.Dir(c.PluginSource), name), []byte("#!/bin/sh\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := Install(c); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(c.ConfDir, ConflistName))
		if err != nil {
			t.Fatal(err)
		}
		var list Conflist
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatal(err)
		}
		chained := len(list.Plugins) == 2 && list.Plugins[1].Type == "portmap" && list.Plugins[1].Capabilities["portMappings"]
		if chained != with {
			t.Errorf("companions beside the plugin %v: conflist plugins %+v", with, list.Plugins)
		}
		for _, name := range CompanionPlugins {
			_, err := os.Stat(filepath.Join(c.BinDir, name))
			if (err == nil) != with {
				t.Errorf("companions beside the plugin %v: %s installed: %v", with, name, err == nil)
			}
		}
	}
}
