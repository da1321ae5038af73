package kube

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Images are the local images every node imports. Nothing is pulled: each
// is one static binary packed as an OCI image archive. Their tags are never
// "latest", so kubelet's default pull policy (IfNotPresent) uses them as
// imported.
const (
	PauseImage     = "eksnet.local/pause:sim"
	EchoImage      = "eksnet.local/echo:sim"
	KubeProxyImage = "eksnet.local/kube-proxy:" + KubernetesVersion
)

// image is one single-layer image: files (path in the image -> file on
// this machine) and its entrypoint.
type image struct {
	ref        string
	files      map[string]string
	entrypoint []string
}

// BuildImageBinaries builds the pause and echo programs of this repository
// (sim/kube/images/...) into dir, static, from the source tree at root.
func BuildImageBinaries(ctx context.Context, root, dir string) (pause, echo string, err error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", dir+"/",
		"./sim/kube/images/pause", "./sim/kube/images/echo")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("building the pause and echo images' binaries: %w\n%s", err, out)
	}
	return filepath.Join(dir, "pause"), filepath.Join(dir, "echo"), nil
}

// writeOCIArchive writes img as an OCI image layout tar at path, the
// format `ctr images import` takes; the image name is in the index's
// io.containerd.image.name annotation.
func writeOCIArchive(img image, path string) error {
	layer, err := layerTar(img.files)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.ref, err)
	}
	layerDigest := digest(layer)
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": img.entrypoint, "Env": []string{"PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	if err != nil {
		return err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor("application/vnd.oci.image.config.v1+json", config, nil),
		"layers":        []any{descriptor("application/vnd.oci.image.layer.v1.tar", layer, nil)},
	})
	if err != nil {
		return err
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []any{descriptor("application/vnd.oci.image.manifest.v1+json", manifest, map[string]string{
			"io.containerd.image.name": img.ref,
		})},
	})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(config), config},
		{blobPath(manifest), manifest},
		{blobPath(layer), layer},
	}
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing image %s: %w", img.ref, err)
	}
	return nil
}

// layerTar is the image's one layer: the files, mode 0755, owned by root.
func layerTar(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for dst, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		for d := filepath.Dir(dst); d != "/" && d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Name: d[1:] + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: dst[1:], Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobPath(b []byte) string {
	sum := sha256.Sum256(b)
	return "blobs/sha256/" + hex.EncodeToString(sum[:])
}

func descriptor(mediaType string, b []byte, annotations map[string]string) map[string]any {
	d := map[string]any{"mediaType": mediaType, "digest": digest(b), "size": len(b)}
	if annotations != nil {
		d["annotations"] = annotations
	}
	return d
}
