// Package cniconf installs the eksnet-cni plugin binary and its network
// configuration list where kubelet's container runtime finds them, and
// removes them again.
//
// kubelet reports a node Ready as soon as a network configuration exists, so
// the agent calls Install only once it serves addresses: until then the node
// stays NotReady and no pod is scheduled onto a network that cannot wire it.
// Every file is written atomically (internal/atomicfile: temporary file,
// fsync, rename, fsync of the directory): a runtime that reads the directory
// at any moment sees the old file, the new file or none, never half of one.
// The conflist takes two renames to reach ConfDir, because of how runtimes
// watch it. It is written and fsynced in ConfDir's parent (/etc/cni), so no
// half-written file ever appears in ConfDir (containerd logged an error for
// one on every install); it is renamed into ConfDir under a hidden staging
// name libcni does not read; and it is renamed onto ConflistName inside
// ConfDir. The last rename is what makes containerd reload: its CRI plugin
// (internal/cri/server/cni_conf_syncer.go, v2.4.2) ignores fsnotify Create
// events, and a rename in from another directory is only a Create; the
// staging name's IN_MOVED_FROM is a Rename, which it reloads on.
// The binary is installed before the conflist and the conflist removed before
// the binary, so a conflist never names a plugin that is not there.
//
// PluginConf is the plugin's own view of its configuration; the plugin and
// Render share it so the two cannot drift.
package cniconf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/eksnet/eksnet/internal/atomicfile"
)

// Names and versions the runtime sees.
const (
	// ConflistName sorts early so the runtime picks eksnet over leftovers.
	ConflistName = "10-eksnet.conflist"
	// PluginType is the plugin binary's file name and the conflist's "type".
	PluginType = "eksnet-cni"
	// CNIVersion is the conflist's "cniVersion", the version a runtime that
	// ignores "cniVersions" uses. It is 1.0.0, not 1.1.0, because containerd
	// 1.7 (still on AL2 and some AL2023 AMIs) embeds libcni v1.1.2: that
	// libcni ignores "cniVersions", calls the plugin with "cniVersion" and
	// cannot parse a 1.1.0 result ("unsupported CNI result version"), so
	// every pod sandbox would fail. libcni v1.2 and later pick the highest
	// entry of "cniVersions" they implement (SupportedVersions), so
	// containerd 2 and CRI-O still call with 1.1.0 and get GC and STATUS.
	CNIVersion = "1.0.0"
	// DefaultNetworkName is the conflist's network name.
	DefaultNetworkName = "eksnet"
	// DefaultVethPrefix matches the AWS VPC CNI's, so existing runbooks
	// ("look for eni* interfaces") still apply.
	DefaultVethPrefix = "eni"
	// MaxVethPrefixLen leaves at least 8 hex characters of hash in a 15
	// character interface name.
	MaxVethPrefixLen = 7
)

// SupportedVersions are the CNI spec versions the plugin speaks, oldest
// first; the conflist's "cniVersions" lists them all so a runtime picks the
// newest it implements.
var SupportedVersions = []string{"0.4.0", "1.0.0", "1.1.0"}

// Config says where to install and what the plugin is told.
type Config struct {
	// ConfDir is the runtime's CNI configuration directory (/etc/cni/net.d).
	ConfDir string
	// BinDir is the runtime's CNI binary directory (/opt/cni/bin).
	BinDir string
	// PluginSource is the eksnet-cni binary to copy into BinDir.
	PluginSource string
	// NetworkName is the conflist's network name (DefaultNetworkName).
	NetworkName string
	// SocketPath is the agent's socket the plugin dials.
	SocketPath string
	// VethPrefix starts every host-side veth name (DefaultVethPrefix).
	VethPrefix string
	// MTU of the pods' interfaces; 0 takes the agent's (EKSNET_MTU), which
	// the plugin gets with every allocation.
	MTU int
	// LogFile, when set, is where the plugin appends its log lines.
	LogFile string
	// Portmap chains the portmap plugin after eksnet-cni, for hostPort.
	// Install sets it when portmap is in BinDir.
	Portmap bool
}

// CompanionPlugins are the reference plugins (containernetworking/plugins)
// a node needs beside eksnet-cni: container runtimes set up every pod's
// lo with loopback, and portmap maps hostPorts. Install copies each one
// found beside PluginSource into BinDir; the conflist chains portmap only
// when it is installed, so a missing one costs hostPort, never every pod.
var CompanionPlugins = []string{"loopback", "portmap"}

var networkNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)
var vethPrefixRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9]*$`)

// Validate names the first wrong field and what it accepts.
func (c Config) Validate() error {
	for _, d := range []struct{ name, v string }{{"ConfDir", c.ConfDir}, {"BinDir", c.BinDir}, {"SocketPath", c.SocketPath}} {
		if !filepath.IsAbs(d.v) {
			return fmt.Errorf("cniconf: %s %q: must be an absolute path", d.name, d.v)
		}
	}
	if c.LogFile != "" && !filepath.IsAbs(c.LogFile) {
		return fmt.Errorf("cniconf: LogFile %q: must be empty or an absolute path", c.LogFile)
	}
	if !networkNameRE.MatchString(c.NetworkName) {
		return fmt.Errorf("cniconf: NetworkName %q: must be letters, digits, '_', '.' or '-', starting with a letter or digit", c.NetworkName)
	}
	if len(c.VethPrefix) > MaxVethPrefixLen || !vethPrefixRE.MatchString(c.VethPrefix) {
		return fmt.Errorf("cniconf: VethPrefix %q: must be 1 to %d letters or digits, starting with a letter", c.VethPrefix, MaxVethPrefixLen)
	}
	if c.MTU != 0 && (c.MTU < 576 || c.MTU > 9001) {
		return fmt.Errorf("cniconf: MTU %d: accepted: 0 (the agent's MTU, EKSNET_MTU) or 576..9001 (the EC2 jumbo frame limit)", c.MTU)
	}
	return nil
}

// Options are eksnet's own keys in the plugin's configuration; the plugin
// embeds them next to the standard CNI keys.
type Options struct {
	SocketPath string `json:"socketPath,omitempty"`
	VethPrefix string `json:"vethPrefix,omitempty"`
	MTU        int    `json:"mtu,omitempty"`
	LogFile    string `json:"logFile,omitempty"`
}

// PluginConf is one plugin entry of the conflist (the runtime adds
// cniVersion, name and prevResult when it calls the plugin).
type PluginConf struct {
	Type string `json:"type"`
	// Capabilities are the runtime-config keys a chained plugin asks the
	// runtime for (portmap: portMappings).
	Capabilities map[string]bool `json:"capabilities,omitempty"`
	Options
}

// Conflist is the network configuration list file.
type Conflist struct {
	CNIVersion  string       `json:"cniVersion"`
	CNIVersions []string     `json:"cniVersions"`
	Name        string       `json:"name"`
	Plugins     []PluginConf `json:"plugins"`
}

// Render is the conflist for c, as written to disk.
func Render(c Config) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	list := Conflist{
		CNIVersion:  CNIVersion,
		CNIVersions: SupportedVersions,
		Name:        c.NetworkName,
		Plugins: []PluginConf{{Type: PluginType, Options: Options{
			SocketPath: c.SocketPath, VethPrefix: c.VethPrefix, MTU: c.MTU, LogFile: c.LogFile,
		}}},
	}
	if c.Portmap {
		list.Plugins = append(list.Plugins, PluginConf{Type: "portmap", Capabilities: map[string]bool{"portMappings": true}})
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cniconf: encoding conflist: %w", err)
	}
	return append(b, '\n'), nil
}

// Install copies the plugin and its companions into BinDir, then writes
// the conflist into ConfDir (chaining portmap when it is in BinDir), all
// atomically; installing the same thing twice changes nothing.
func Install(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := installPlugin(c); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(c.BinDir, "portmap")); err == nil {
		c.Portmap = true
	}
	conf, err := Render(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.ConfDir, 0o755); err != nil {
		return fmt.Errorf("cniconf: creating %s: %w", c.ConfDir, err)
	}
	staged := filepath.Join(c.ConfDir, stagingName)
	if err := atomicfile.WriteFile(staged, conf, 0o644, atomicfile.TempDir(filepath.Dir(c.ConfDir))); err != nil {
		return fmt.Errorf("cniconf: %w", err)
	}
	if err := os.Rename(staged, filepath.Join(c.ConfDir, ConflistName)); err != nil {
		return fmt.Errorf("cniconf: renaming %s onto %s: %w", staged, ConflistName, err)
	}
	if err := atomicfile.SyncDir(c.ConfDir); err != nil {
		return fmt.Errorf("cniconf: %w", err)
	}
	return nil
}

// stagingName is the conflist's name in ConfDir between its two renames
// (see the package comment). libcni reads only *.conf, *.conflist and
// *.json, so no runtime loads it.
const stagingName = "." + ConflistName + ".staged"

// InstallPlugin copies only the plugin binary into BinDir, atomically. The
// agent's systemd unit runs it before the agent starts, so the runtime
// always finds the plugin that matches the agent, while the conflist (which
// makes kubelet report the node Ready) waits until the agent serves.
func InstallPlugin(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return installPlugin(c)
}

func installPlugin(c Config) error {
	fi, err := os.Stat(c.PluginSource)
	if err != nil {
		return fmt.Errorf("cniconf: PluginSource %s: %w", c.PluginSource, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("cniconf: PluginSource %s: not a regular file", c.PluginSource)
	}
	src, err := os.Open(c.PluginSource)
	if err != nil {
		return fmt.Errorf("cniconf: opening PluginSource: %w", err)
	}
	defer src.Close()
	if err := os.MkdirAll(c.BinDir, 0o755); err != nil {
		return fmt.Errorf("cniconf: creating %s: %w", c.BinDir, err)
	}
	if err := atomicfile.Copy(filepath.Join(c.BinDir, PluginType), src, 0o755); err != nil {
		return fmt.Errorf("cniconf: %w", err)
	}
	for _, name := range CompanionPlugins {
		if err := copyCompanion(filepath.Join(filepath.Dir(c.PluginSource), name), filepath.Join(c.BinDir, name)); err != nil {
			return err
		}
	}
	return nil
}

// copyCompanion installs a companion plugin found at src; none is fine.
func copyCompanion(src, dst string) error {
	f, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cniconf: opening %s: %w", src, err)
	}
	defer f.Close()
	if err := atomicfile.Copy(dst, f, 0o755); err != nil {
		return fmt.Errorf("cniconf: %w", err)
	}
	return nil
}

// Withdraw removes the conflist (and a staged one an interrupted Install
// left), keeping the plugin: the runtime then reports the network not ready
// and kubelet marks the node NotReady, so no pod is sent to a node whose
// agent is down (containerd 1.6 and 1.7 never ask the plugin for STATUS;
// the conflist's presence is all they check). Only eksnet's conflist goes:
// a file under ConflistName whose first plugin is not eksnet-cni is
// somebody else's and is refused, and every other file in ConfDir is left.
// Each removal is one unlink, which is atomic; what is already gone is not
// an error, so Withdraw after Withdraw is a no-op. The agent installs the
// conflist again once it serves.
func Withdraw(confDir string) (removed bool, err error) {
	if !filepath.IsAbs(confDir) {
		return false, fmt.Errorf("cniconf: ConfDir %q: must be an absolute path", confDir)
	}
	for _, name := range []string{stagingName, ConflistName} {
		p := filepath.Join(confDir, name)
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, fmt.Errorf("cniconf: reading %s: %w", p, err)
		}
		var list Conflist
		if err := json.Unmarshal(b, &list); err != nil || len(list.Plugins) == 0 || list.Plugins[0].Type != PluginType {
			return removed, fmt.Errorf("cniconf: %s is not eksnet's conflist (its first plugin is not %q); left in place", p, PluginType)
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("cniconf: removing %s: %w", p, err)
		}
		removed = removed || name == ConflistName
	}
	if err := atomicfile.SyncDir(confDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return removed, fmt.Errorf("cniconf: %w", err)
	}
	return removed, nil
}

// Uninstall removes the conflist (and a staged one an interrupted Install
// left), then the binary; what is already gone is not an error.
func Uninstall(c Config) error {
	for _, p := range []string{filepath.Join(c.ConfDir, stagingName), filepath.Join(c.ConfDir, ConflistName), filepath.Join(c.BinDir, PluginType)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cniconf: removing %s: %w", p, err)
		}
		if err := atomicfile.SyncDir(filepath.Dir(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cniconf: %w", err)
		}
	}
	return nil
}
