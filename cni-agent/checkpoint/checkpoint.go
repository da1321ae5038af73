// Package checkpoint persists the agent's allocations so a restart (or a
// kill -9) never hands an address to a second pod.
//
// The state on disk is a snapshot and a journal beside it:
//
//   - The snapshot (the checkpoint path) is the whole state. It is replaced
//     atomically: written to a temporary file in the same directory,
//     fsynced, renamed over the old one, and the directory fsynced, so after
//     a crash it is either the old or the new version, never a torn mix.
//   - The journal (the path + ".journal") holds the allocations and releases
//     made since that snapshot, one checksummed line each, appended and
//     fdatasynced before the plugin gets its answer. Recording one change
//     then costs one small write whatever the number of pods; rewriting the
//     snapshot for every change made ADD slower as the node filled (0.5 ms
//     with 1 pod, 2 ms with 250 on this VM's disk).
//
// Each snapshot carries a generation and each journal record the generation
// of the snapshot it follows; Load replays only the records of the
// snapshot's generation, so records a new snapshot already contains are
// ignored even when the crash came before the journal was emptied. A torn
// last record (a crash mid-append, before the fdatasync returned, so before
// any answer left) is dropped and reported; a bad record before the last is
// corruption, and Load fails as for a torn snapshot.
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
	"github.com/eksnet/eksnet/internal/atomicfile"
)

// Version is the format version written; Load reads it and version 1 (a
// snapshot without generation or journal) and rejects others rather than
// guessing.
const Version = 2

// File is the checkpoint's content.
type File struct {
	Version    int    `json:"version"`
	InstanceID string `json:"instanceID"`
	Mode       string `json:"mode"`
	// Assignments are the live allocations.
	Assignments []ipam.Assignment `json:"assignments"`
	// Cooldowns holds when each still-cooling address was freed.
	Cooldowns map[netip.Addr]time.Time `json:"cooldowns,omitempty"`
	// Generation numbers the snapshot; journal records name the one they
	// follow.
	Generation uint64 `json:"generation,omitempty"`

	// Journal is what Load found in the journal; never written.
	Journal JournalStats `json:"-"`
}

// Save writes f to path atomically as a snapshot of f.Generation. It leaves
// the journal alone: records of other generations are ignored by Load, and
// a Writer empties the journal after its own snapshots.
func Save(path string, f File) error {
	f.Version = Version
	if f.Assignments == nil {
		f.Assignments = []ipam.Assignment{}
	}
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encoding checkpoint %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating checkpoint directory %s: %w", dir, err)
	}
	// 0600: the file names every pod's address and network namespace.
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("saving checkpoint: %w", err)
	}
	return nil
}

// ErrNotExist is returned (wrapped) by Load when there is no checkpoint yet:
// the first start on a node.
var ErrNotExist = fs.ErrNotExist

// Load reads the snapshot at path and replays its journal onto it.
func Load(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("reading checkpoint %s: %w", path, err)
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return File{}, fmt.Errorf("decoding checkpoint %s: %w", path, err)
	}
	if f.Version != Version && f.Version != 1 {
		return File{}, fmt.Errorf("checkpoint %s: version %d, this agent reads versions 1 and %d", path, f.Version, Version)
	}
	journal, err := os.ReadFile(JournalPath(path))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return File{}, fmt.Errorf("reading checkpoint journal %s: %w", JournalPath(path), err)
	}
	if f, err = replay(f, journal); err != nil {
		return File{}, fmt.Errorf("checkpoint journal %s: %w", JournalPath(path), err)
	}
	f.Version = Version
	return f, nil
}

// IsNotExist reports whether err means there was no checkpoint.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
