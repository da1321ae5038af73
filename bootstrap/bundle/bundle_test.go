package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// nodeFiles is a complete node bundle's members with short fake contents,
// without the members named in drop.
func nodeFiles(drop ...string) []File {
	var files []File
	for _, m := range Members {
		if !slices.Contains(drop, m) {
			files = append(files, File{m, []byte("#!/bin/sh\necho " + m + "\n")})
		}
	}
	return files
}

func mustPack(t *testing.T, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Pack(&buf, files...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPackIsReproducible: the same files, in any order, give the same
// bytes, and different contents give different bytes.
func TestPackIsReproducible(t *testing.T) {
	agent := File{AgentMember, []byte("#!/bin/sh\necho agent\n")}
	plugin := File{PluginMember, []byte("#!/bin/sh\necho plugin\n")}
	a := mustPack(t, agent, plugin)
	b := mustPack(t, plugin, agent)
	if !bytes.Equal(a, b) {
		t.Error("packing the same files in another order changed the bytes")
	}
	time.Sleep(1100 * time.Millisecond) // a clock-dependent header would change now
	if c := mustPack(t, agent, plugin); !bytes.Equal(a, c) {
		t.Error("packing the same files a second later changed the bytes")
	}
	changed := mustPack(t, agent, File{PluginMember, []byte("#!/bin/sh\necho plugin2\n")})
	if bytes.Equal(a, changed) {
		t.Error("different plugin contents gave the same bytes")
	}
}

// TestPackEntries reads a bundle back with archive/tar and compress/gzip
// and checks every header field that would make the bytes depend on the
// machine or the clock.
func TestPackEntries(t *testing.T) {
	contents := map[string][]byte{}
	for i, m := range Members {
		contents[m] = []byte("\x7fELF " + m + strings.Repeat(".", i*7))
	}
	raw, err := PackNode(contents)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() || zr.Comment != "" {
		t.Errorf("gzip header name %q mtime %v comment %q, want all empty", zr.Name, zr.ModTime, zr.Comment)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		data, _ := io.ReadAll(tr)
		want := contents[hdr.Name]
		if !bytes.Equal(data, want) {
			t.Errorf("%s holds %q, want %q", hdr.Name, data, want)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Mode != 0o755 || hdr.Uid != 0 || hdr.Gid != 0 ||
			hdr.Uname != "root" || hdr.Gname != "root" || !hdr.ModTime.Equal(mtime) {
			t.Errorf("%s header type %q mode %#o uid %d gid %d %s:%s mtime %v; want a root-owned 0755 regular file at %v",
				hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname, hdr.ModTime, mtime)
		}
	}
	if strings.Join(names, ",") != "eksnet-agent,eksnet-cni,loopback,portmap" {
		t.Errorf("members %v, want eksnet-agent, eksnet-cni, loopback, portmap (sorted)", names)
	}
}

func TestPackNodeRefuses(t *testing.T) {
	full := func() map[string][]byte {
		c := map[string][]byte{}
		for _, f := range nodeFiles() {
			c[f.Name] = f.Data
		}
		return c
	}
	noPortmap := full()
	delete(noPortmap, "portmap")
	extra := full()
	extra["host-local"] = []byte("x")
	for name, tt := range map[string]struct {
		contents map[string][]byte
		want     string
	}{
		"missing portmap": {noPortmap, "no portmap given: want eksnet-agent, eksnet-cni, loopback, portmap"},
		"extra member":    {extra, `member "host-local": want only`},
	} {
		if _, err := PackNode(tt.contents); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: PackNode error = %v, want it to say %q", name, err, tt.want)
		}
	}
}

func TestPackRejectsNames(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files []File
		want  string
	}{
		{"empty name", []File{{"", nil}}, `member name ""`},
		{"directory", []File{{"bin/eksnet-agent", nil}}, `member name "bin/eksnet-agent"`},
		{"dot dot", []File{{"..", nil}}, `member name ".."`},
		{"twice", []File{{AgentMember, []byte("a")}, {AgentMember, []byte("b")}}, "given twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Pack(&buf, tt.files...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Pack error = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

// rawTar builds archives Pack refuses to make: links and odd modes.
func rawTar(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range hdrs {
		body := strings.Repeat("x", int(h.Size))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestVerify(t *testing.T) {
	reg := func(name string, mode int64) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: 3}
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("gzip, but no tar inside it at all, just text that is long enough to be a header block? no."))
	_ = zw.Close()
	tests := []struct {
		name   string
		bundle []byte
		want   string // "" means valid
	}{
		{"node bundle", mustPack(t, nodeFiles()...), ""},
		{"agent only", mustPack(t, File{AgentMember, []byte("a")}), "no eksnet-cni, no loopback, no portmap"},
		{"plugin only", mustPack(t, File{PluginMember, []byte("p")}), "no eksnet-agent"},
		{"two-binary bundle of old", mustPack(t, File{AgentMember, []byte("a")}, File{PluginMember, []byte("p")}), "no loopback, no portmap"},
		{"no loopback", mustPack(t, nodeFiles("loopback")...), "no loopback"},
		{"no portmap", mustPack(t, nodeFiles("portmap")...), "no portmap"},
		{"extra member", mustPack(t, append(nodeFiles(), File{"README", []byte("r")})...), "unexpected member README"},
		{"empty plugin", mustPack(t, append(nodeFiles(PluginMember), File{PluginMember, nil})...), "eksnet-cni is empty"},
		{"bare binary", []byte("\x7fELF\x02\x01\x01 an agent binary, not a bundle"), "not gzip"},
		{"gzip of text", gz.Bytes(), "not a tar archive"},
		{"symlink member", rawTar(t, reg(AgentMember, 0o755), &tar.Header{Typeflag: tar.TypeSymlink, Name: PluginMember, Linkname: "/bin/sh", Mode: 0o777}), "regular files with plain names only"},
		{"path member", rawTar(t, reg("../"+AgentMember, 0o755), reg(PluginMember, 0o755)), "regular files with plain names only"},
		{"not executable", rawTar(t, reg(AgentMember, 0o644), reg(PluginMember, 0o755), reg("loopback", 0o755), reg("portmap", 0o755)), "eksnet-agent has mode 0644, want 0755"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(bytes.NewReader(tt.bundle))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Verify = %v, want a valid bundle", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Verify = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestCheckArch(t *testing.T) {
	for _, arch := range Architectures {
		if err := CheckArch("--arch", arch); err != nil {
			t.Errorf("CheckArch(%s) = %v", arch, err)
		}
	}
	for _, arch := range []string{"x86_64", "aarch64", "AMD64", "", "riscv64"} {
		err := CheckArch("--arch", arch)
		if err == nil || !strings.Contains(err.Error(), "--arch") || !strings.Contains(err.Error(), "amd64, arm64") {
			t.Errorf("CheckArch(%q) = %v, want an error naming --arch and amd64, arm64", arch, err)
		}
	}
}

func TestInstructions(t *testing.T) {
	rs := []Result{
		{Arch: "amd64", Path: "/src/bin/eksnet-node-linux-amd64.tar.gz", SHA256: strings.Repeat("a", 64)},
		{Arch: "arm64", Path: "/my builds/eksnet-node-linux-arm64.tar.gz", SHA256: strings.Repeat("b", 64)},
	}
	var buf bytes.Buffer
	if err := Instructions(&buf, rs, "dev"); err != nil {
		t.Fatal(err)
	}
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	want := a + "  /src/bin/eksnet-node-linux-amd64.tar.gz\n" +
		b + "  /my builds/eksnet-node-linux-arm64.tar.gz\n" +
		"\n# Pulumi stack: the program uploads each bundle to the stack's bucket.\n" +
		"pulumi config set --path eksnet:cni.agent.amd64Path /src/bin/eksnet-node-linux-amd64.tar.gz -s dev\n" +
		"pulumi config set --path eksnet:cni.agent.amd64Sha256 " + a + " -s dev\n" +
		"pulumi config set --path eksnet:cni.agent.arm64Path '/my builds/eksnet-node-linux-arm64.tar.gz' -s dev\n" +
		"pulumi config set --path eksnet:cni.agent.arm64Sha256 " + b + " -s dev\n" +
		"\n# Hand-made user data: upload the bundles where nodes can fetch them, then\n" +
		"eksnet userdata ... --agent-url 'https://HOST/PATH/eksnet-node-linux-{arch}.tar.gz' --agent-sha256 amd64=" + a + " --agent-sha256 arm64=" + b + "\n"
	if buf.String() != want {
		t.Errorf("Instructions =\n%s\nwant\n%s", buf.String(), want)
	}
	buf.Reset()
	if err := Instructions(&buf, rs[:1], ""); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), " -s ") || strings.Contains(buf.String(), "arm64") {
		t.Errorf("one arch, no stack:\n%s", buf.String())
	}
}
