// Package checkpoint persists the agent's allocations so a restart (or a
// kill -9) never hands an address to a second pod. The file is replaced
// atomically: written to a temporary file in the same directory, fsynced,
// renamed over the old one, and the directory fsynced, so after a crash the
// file is either the old or the new version, never a torn mix.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/eksnet/eksnet/cni-agent/ipam"
)

// Version is the format version written; Load rejects other versions rather
// than guessing.
const Version = 1

// File is the checkpoint's content.
type File struct {
	Version    int    `json:"version"`
	InstanceID string `json:"instanceID"`
	Mode       string `json:"mode"`
	// Assignments are the live allocations.
	Assignments []ipam.Assignment `json:"assignments"`
	// Cooldowns holds when each still-cooling address was freed.
	Cooldowns map[netip.Addr]time.Time `json:"cooldowns,omitempty"`
}

// Save writes f to path atomically.
func Save(path string, f File) error {
	f.Version = Version
	if f.Assignments == nil {
		f.Assignments = []ipam.Assignment{}
	}
	data, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return fmt.Errorf("encoding checkpoint %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating checkpoint directory %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating temporary checkpoint in %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing checkpoint %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing checkpoint %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing checkpoint %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing checkpoint %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening checkpoint directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing checkpoint directory %s: %w", dir, err)
	}
	return nil
}

// ErrNotExist is returned (wrapped) by Load when there is no checkpoint yet:
// the first start on a node.
var ErrNotExist = fs.ErrNotExist

// Load reads the checkpoint at path.
func Load(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("reading checkpoint %s: %w", path, err)
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return File{}, fmt.Errorf("decoding checkpoint %s: %w", path, err)
	}
	if f.Version != Version {
		return File{}, fmt.Errorf("checkpoint %s: version %d, this agent reads version %d", path, f.Version, Version)
	}
	return f, nil
}

// IsNotExist reports whether err means there was no checkpoint.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
