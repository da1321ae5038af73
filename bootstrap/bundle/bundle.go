// Package bundle makes and checks the node bundle: the one file per
// architecture that node user data downloads, verifies and unpacks, holding
// the eksnet-agent daemon, the eksnet-cni plugin it installs, and the two
// reference plugins a container runtime needs beside it: loopback (every
// pod's lo) and portmap (hostPort), from containernetworking/plugins at
// CNIPluginsVersion.
//
// They travel together because `eksnet-agent install` (the unit's
// ExecStartPre) copies eksnet-cni and its companions from beside the agent:
// shipping the agent alone left every node without a CNI plugin and
// NotReady, and a node image without loopback fails every pod sandbox. One
// file keeps one URL and one SHA-256 per architecture, so the user-data
// contract (`--agent-url`, `--agent-sha256 ARCH=HEX`) stays the same.
//
// The archive is a gzip'd tar with exactly the four members, mode 0755, and
// is deterministic (sorted entries, fixed mtime, owner and gzip header), so
// the same binaries always give the same SHA-256 and a stack whose sources
// did not change does not re-upload or roll its launch template. (The same
// Go toolchain is assumed: both the compiler and compress/flate may emit
// other bytes in another release.)
//
// The package imports no Pulumi: the CLI (`eksnet bundle`), user-data tests
// and the Pulumi program all use it.
package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/eksnet/eksnet/cni-agent/cniconf"
)

// Member names: the file names on the node, in /usr/local/bin.
const (
	AgentMember  = "eksnet-agent"
	PluginMember = cniconf.PluginType
)

// CNIPluginsModule and CNIPluginsVersion are where the companion plugins
// come from. go.mod pins the same version (a `tool` directive per package),
// which is what Build compiles; a test fails when the two disagree, and
// the simulation's Kubernetes tier builds its plugins at this version too.
const (
	CNIPluginsModule  = "github.com/containernetworking/plugins"
	CNIPluginsVersion = "v1.10.0"
)

// CompanionPackages maps each companion member (cniconf.CompanionPlugins)
// to its package in CNIPluginsModule.
var CompanionPackages = map[string]string{
	"loopback": CNIPluginsModule + "/plugins/main/loopback",
	"portmap":  CNIPluginsModule + "/plugins/meta/portmap",
}

// Members are the files a node bundle holds, in archive order: the agent,
// the plugin, then cniconf.CompanionPlugins.
var Members = append([]string{AgentMember, PluginMember}, cniconf.CompanionPlugins...)

// Architectures a bundle is built for, by GOARCH name (user data maps uname
// -m x86_64 -> amd64, aarch64 -> arm64).
var Architectures = []string{"amd64", "arm64"}

// ContentType is the media type of a bundle, for object stores.
const ContentType = "application/gzip"

// FileName is the bundle's file name for goarch, as `eksnet bundle` writes
// it; with "{arch}" for goarch it is the `--agent-url` pattern.
func FileName(goarch string) string {
	return "eksnet-node-linux-" + goarch + ".tar.gz"
}

// mtime is every entry's modification time: a fixed instant, so the bytes
// depend on the contents only (2020-01-01, not 0: some tar readers warn
// about pre-1970 or zero times).
var mtime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// File is one executable to pack.
type File struct {
	// Name is the member name: a plain file name, no directories.
	Name string
	// Data is the file's contents.
	Data []byte
}

// Pack writes files as a deterministic gzip'd tar to w: entries sorted by
// name, mode 0755, owner root:root (uid/gid 0), a fixed mtime, and a gzip
// header with no name or time. Names must be plain, unique file names.
func Pack(w io.Writer, files ...File) error {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	for i, f := range sorted {
		if f.Name == "" || f.Name == "." || f.Name == ".." || strings.ContainsAny(f.Name, "/\\\x00") {
			return fmt.Errorf("pack bundle: member name %q: want a plain file name such as %s", f.Name, AgentMember)
		}
		if i > 0 && sorted[i-1].Name == f.Name {
			return fmt.Errorf("pack bundle: member %q given twice", f.Name)
		}
	}
	// gzip.NewWriterLevel leaves Header zero: no name, mtime 0, OS unknown.
	// The default level: -9 takes about 3x as long for 0.4% less on the
	// 27 MB of binaries.
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return fmt.Errorf("pack bundle: %w", err)
	}
	tw := tar.NewWriter(zw)
	for _, f := range sorted {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.Name,
			Mode:     0o755,
			Size:     int64(len(f.Data)),
			ModTime:  mtime,
			Uname:    "root",
			Gname:    "root",
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("pack bundle: member %s: %w", f.Name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("pack bundle: member %s: %w", f.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("pack bundle: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("pack bundle: %w", err)
	}
	return nil
}

// PackNode returns the node bundle of contents, one entry per member
// name; it refuses a missing member or an extra name, so what it returns
// passes Verify whenever no member is empty.
func PackNode(contents map[string][]byte) ([]byte, error) {
	var files []File
	for _, m := range Members {
		data, ok := contents[m]
		if !ok {
			return nil, fmt.Errorf("pack node bundle: no %s given: want %s", m, strings.Join(Members, ", "))
		}
		files = append(files, File{m, data})
	}
	for name := range contents {
		if !slices.Contains(Members, name) {
			return nil, fmt.Errorf("pack node bundle: member %q: want only %s", name, strings.Join(Members, ", "))
		}
	}
	var buf bytes.Buffer
	if err := Pack(&buf, files...); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Entry is one member read back from a bundle.
type Entry struct {
	// Mode is the tar header's permission bits.
	Mode int64
	Data []byte
}

// Unpack reads a gzip'd tar and returns its members by name. It refuses
// what user data would not install (links, directories, paths), so callers
// can check a bundle before shipping it.
func Unpack(r io.Reader) (map[string]Entry, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("read bundle: not gzip: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	entries := map[string]Entry{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read bundle: not a tar archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Name == "" || hdr.Name == "." || hdr.Name == ".." || strings.ContainsAny(hdr.Name, "/\\") {
			return nil, fmt.Errorf("read bundle: member %q (type %q): want regular files with plain names only", hdr.Name, hdr.Typeflag)
		}
		if _, dup := entries[hdr.Name]; dup {
			return nil, fmt.Errorf("read bundle: member %q appears twice", hdr.Name)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read bundle: member %s: %w", hdr.Name, err)
		}
		entries[hdr.Name] = Entry{Mode: hdr.Mode, Data: data}
	}
	return entries, nil
}

// Verify checks that r is a node bundle: a gzip'd tar holding exactly
// Members, non-empty regular files with mode 0755.
// The error says what is wrong, so a misconfigured path (the bare agent
// binary, say) is caught before any node downloads it.
func Verify(r io.Reader) error {
	entries, err := Unpack(r)
	if err != nil {
		return err
	}
	var problems []string
	for _, m := range Members {
		e, ok := entries[m]
		switch {
		case !ok:
			problems = append(problems, "no "+m)
		case len(e.Data) == 0:
			problems = append(problems, m+" is empty")
		case e.Mode&0o777 != 0o755:
			problems = append(problems, fmt.Sprintf("%s has mode %#o, want 0755", m, e.Mode&0o777))
		}
	}
	for name := range entries {
		if !slices.Contains(Members, name) {
			problems = append(problems, "unexpected member "+name)
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("read bundle: want exactly %s: %s", strings.Join(Members, ", "), strings.Join(problems, ", "))
	}
	return nil
}

// CheckArch returns an error naming flag and the accepted values unless
// goarch is one of Architectures.
func CheckArch(flag, goarch string) error {
	if !slices.Contains(Architectures, goarch) {
		return fmt.Errorf("%s %q: accepted values are %s", flag, goarch, strings.Join(Architectures, ", "))
	}
	return nil
}
