package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eksnet/eksnet/cni-agent/ipam"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// JournalPath is where the journal of the snapshot at path lives.
func JournalPath(path string) string { return path + ".journal" }

// JournalStats says what Load did with the journal.
type JournalStats struct {
	// Replayed records were applied; Stale ones belonged to an older
	// snapshot, which already holds them.
	Replayed, Stale int
	// TornTail is set when the last record was cut short or garbled: a
	// crash while it was being written. It was dropped.
	TornTail bool
}

// The journal's operations.
const (
	opAssign  = "assign"
	opRelease = "release"
)

// record is one journal line's payload. A line is the CRC-32 (IEEE) of the
// payload in 8 hex digits, a space, the payload's JSON and a newline.
type record struct {
	Generation uint64 `json:"gen"`
	Op         string `json:"op"`
	// Assignment is set for assign.
	Assignment *ipam.Assignment `json:"assignment,omitempty"`
	// Key, Address and At are set for release.
	Key     *rpc.Key   `json:"key,omitempty"`
	Address netip.Addr `json:"address,omitzero"`
	At      time.Time  `json:"at,omitzero"`
}

func encodeRecord(r record) ([]byte, error) {
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	line := make([]byte, 0, len(payload)+10)
	line = fmt.Appendf(line, "%08x ", crc32.ChecksumIEEE(payload))
	line = append(line, payload...)
	return append(line, '\n'), nil
}

// decodeRecord parses one line (without its newline).
func decodeRecord(line []byte) (record, error) {
	sum, payload, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(sum) != 8 {
		return record{}, errors.New("no checksum")
	}
	want, err := strconv.ParseUint(string(sum), 16, 32)
	if err != nil {
		return record{}, errors.New("no checksum")
	}
	if crc32.ChecksumIEEE(payload) != uint32(want) {
		return record{}, errors.New("checksum mismatch")
	}
	var r record
	if err := json.Unmarshal(payload, &r); err != nil {
		return record{}, err
	}
	switch {
	case r.Op == opAssign && r.Assignment != nil && r.Assignment.Address.Is4():
	case r.Op == opRelease && r.Key != nil && r.Address.Is4():
	default:
		return record{}, fmt.Errorf("not an assign or release record: %.80s", payload)
	}
	return r, nil
}

// replay applies the journal's records of f's generation to f, in order.
func replay(f File, journal []byte) (File, error) {
	byKey := make(map[rpc.Key]int, len(f.Assignments))
	for i, as := range f.Assignments {
		byKey[as.Key] = i
	}
	lines := bytes.SplitAfter(journal, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // after the final newline
	}
	for i, line := range lines {
		last := i == len(lines)-1
		complete := bytes.HasSuffix(line, []byte("\n"))
		r, err := decodeRecord(bytes.TrimSuffix(line, []byte("\n")))
		if err != nil || !complete {
			if last {
				f.Journal.TornTail = true
				break
			}
			if err == nil {
				err = errors.New("no newline")
			}
			return File{}, fmt.Errorf("record %d of %d is corrupt (%v): only the last record can be torn by a crash", i+1, len(lines), err)
		}
		switch {
		case r.Generation < f.Generation:
			f.Journal.Stale++
			continue
		case r.Generation > f.Generation:
			return File{}, fmt.Errorf("record %d follows snapshot generation %d, the snapshot is generation %d: the snapshot is older than its journal", i+1, r.Generation, f.Generation)
		}
		f.Journal.Replayed++
		switch r.Op {
		case opAssign:
			as := *r.Assignment
			if j, ok := byKey[as.Key]; ok {
				f.Assignments[j] = as
			} else {
				byKey[as.Key] = len(f.Assignments)
				f.Assignments = append(f.Assignments, as)
			}
			delete(f.Cooldowns, as.Address)
		case opRelease:
			if j, ok := byKey[*r.Key]; ok {
				f.Assignments = slices.Delete(f.Assignments, j, j+1)
				for k := j; k < len(f.Assignments); k++ {
					byKey[f.Assignments[k].Key] = k
				}
				delete(byKey, *r.Key)
			}
			if f.Cooldowns == nil {
				f.Cooldowns = map[netip.Addr]time.Time{}
			}
			f.Cooldowns[r.Address] = r.At
		}
	}
	return f, nil
}

// Writer keeps the checkpoint at one path: snapshots with Save, single
// changes with Assign and Release. It is not safe for concurrent use; the
// agent calls it under its mutex.
type Writer struct {
	path    string
	gen     uint64
	journal *os.File
	records int
	// broken is set when an append failed part-way: the journal may end in
	// a partial line, so the next change must be a snapshot.
	broken bool
}

// NewWriter returns a writer continuing from generation gen, what Load
// returned. Without a snapshot to continue (gen 0) the generations start
// from the clock, so that no record of a journal left beside a deleted or
// unreadable snapshot can pass for one of the new snapshot's. Nothing is
// written until Save.
func NewWriter(path string, gen uint64) *Writer {
	if gen == 0 {
		gen = uint64(time.Now().UnixNano())
	}
	return &Writer{path: path, gen: gen, broken: true}
}

// Save writes f as the next generation's snapshot and empties the journal.
func (w *Writer) Save(f File) error {
	f.Generation = w.gen + 1
	if err := Save(w.path, f); err != nil {
		return err
	}
	// The snapshot is on disk: the journal's records are stale from here on
	// whether or not emptying it works.
	w.gen, w.records, w.broken = f.Generation, 0, false
	if w.journal == nil {
		j, err := os.OpenFile(JournalPath(w.path), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("opening checkpoint journal: %w", err)
		}
		w.journal = j
	}
	if err := w.journal.Truncate(0); err != nil {
		return fmt.Errorf("emptying checkpoint journal %s: %w", w.journal.Name(), err)
	}
	return nil
}

// Due reports whether the next change should be a snapshot: an append
// failed, or the journal holds more records than a snapshot of live
// allocations would (at least 64), so replaying it and rewriting the
// snapshot stay proportional to the pods, and a change costs O(1) amortised.
func (w *Writer) Due(live int) bool {
	return w.broken || w.journal == nil || w.records >= max(64, live)
}

// Assign records a new allocation.
func (w *Writer) Assign(as ipam.Assignment) error {
	return w.append(record{Generation: w.gen, Op: opAssign, Assignment: &as})
}

// Release records that key freed addr at at.
func (w *Writer) Release(key rpc.Key, addr netip.Addr, at time.Time) error {
	return w.append(record{Generation: w.gen, Op: opRelease, Key: &key, Address: addr, At: at})
}

func (w *Writer) append(r record) error {
	if w.broken || w.journal == nil {
		return errors.New("checkpoint journal needs a snapshot first")
	}
	line, err := encodeRecord(r)
	if err != nil {
		return fmt.Errorf("encoding checkpoint journal record: %w", err)
	}
	if _, err := w.journal.Write(line); err != nil {
		w.broken = true
		return fmt.Errorf("appending to checkpoint journal %s: %w", w.journal.Name(), err)
	}
	// fdatasync, not fsync: the size change is flushed with the data, the
	// timestamps need not be.
	if err := unix.Fdatasync(int(w.journal.Fd())); err != nil {
		w.broken = true
		return fmt.Errorf("syncing checkpoint journal %s: %w", w.journal.Name(), err)
	}
	w.records++
	return nil
}

// Close closes the journal.
func (w *Writer) Close() error {
	if w == nil || w.journal == nil {
		return nil
	}
	err := w.journal.Close()
	w.journal = nil
	return err
}
