package checkpoint

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/ipam"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

func key(i int) rpc.Key {
	return rpc.Key{Network: "eksnet", ContainerID: fmt.Sprintf("%064x", i), IfName: "eth0"}
}

func assignment(i int) ipam.Assignment {
	return ipam.Assignment{
		Owner: ipam.Owner{Key: key(i), Netns: fmt.Sprintf("/var/run/netns/cni-%d", i), PodNamespace: "default",
			PodName: fmt.Sprintf("pod-%d", i), Since: time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)},
		Address: netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(1 + i%250)}),
		ENIID:   "eni-0123456789abcdef0", DeviceNumber: 1,
	}
}

// live returns the keys and addresses of f's assignments.
func live(f File) map[rpc.Key]netip.Addr {
	out := map[rpc.Key]netip.Addr{}
	for _, as := range f.Assignments {
		out[as.Key] = as.Address
	}
	return out
}

// newWriter is a writer on a fresh path with an empty snapshot saved.
func newWriter(t testing.TB) (*Writer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "checkpoint.json")
	w := NewWriter(path, 0)
	t.Cleanup(func() { w.Close() })
	if err := w.Save(File{InstanceID: "i-1", Mode: "prefix"}); err != nil {
		t.Fatal(err)
	}
	return w, path
}

func TestJournalReplaysAssignAndRelease(t *testing.T) {
	w, path := newWriter(t)
	if w.Due(0) {
		t.Fatal("a writer right after Save wants another snapshot")
	}
	freed := time.Date(2026, 11, 28, 6, 1, 0, 0, time.UTC)
	for i := range 5 {
		if err := w.Assign(assignment(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Release(key(1), assignment(1).Address, freed); err != nil {
		t.Fatal(err)
	}
	// A re-used container ID gets a new address: the record replaces the old.
	again := assignment(3)
	again.Address = netip.MustParseAddr("10.0.9.9")
	if err := w.Assign(again); err != nil {
		t.Fatal(err)
	}
	// Re-assigning a cooling address ends its cooldown.
	reuse := assignment(7)
	reuse.Address = assignment(1).Address
	if err := w.Assign(reuse); err != nil {
		t.Fatal(err)
	}
	if err := w.Release(key(4), assignment(4).Address, freed); err != nil {
		t.Fatal(err)
	}

	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[rpc.Key]netip.Addr{
		key(0): assignment(0).Address, key(2): assignment(2).Address,
		key(3): again.Address, key(7): assignment(1).Address,
	}
	if fmt.Sprint(live(got)) != fmt.Sprint(want) {
		t.Errorf("assignments after replay:\n got  %v\n want %v", live(got), want)
	}
	if len(got.Cooldowns) != 1 || !got.Cooldowns[assignment(4).Address].Equal(freed) {
		t.Errorf("cooldowns after replay: %v, want only %s at %v", got.Cooldowns, assignment(4).Address, freed)
	}
	if got.Journal != (JournalStats{Replayed: 9}) || got.InstanceID != "i-1" {
		t.Errorf("journal stats %+v, instance %q", got.Journal, got.InstanceID)
	}
}

func TestJournalEmptiedBySnapshotAndCompactionIsDue(t *testing.T) {
	w, path := newWriter(t)
	for i := range 64 {
		if w.Due(10) {
			t.Fatalf("due after %d records with 10 live; want 64", i)
		}
		if err := w.Assign(assignment(i)); err != nil {
			t.Fatal(err)
		}
	}
	if !w.Due(10) || w.Due(100) {
		t.Fatalf("64 records: due(10)=%v due(100)=%v, want true and false", w.Due(10), w.Due(100))
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Save(f); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(JournalPath(path)); err != nil || st.Size() != 0 {
		t.Fatalf("journal after a snapshot: %v %v, want empty", st, err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Assignments) != 64 || back.Generation != f.Generation+1 {
		t.Fatalf("after compaction: %d assignments, generation %d (was %d)", len(back.Assignments), back.Generation, f.Generation)
	}
}

func TestJournalTornTailIsDroppedAndReported(t *testing.T) {
	w, path := newWriter(t)
	for i := range 3 {
		if err := w.Assign(assignment(i)); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(JournalPath(path))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	third := lines[2]
	for name, torn := range map[string]string{
		"cut mid-record":  lines[0] + lines[1] + third[:len(third)/2],
		"no newline":      lines[0] + lines[1] + strings.TrimSuffix(third, "\n"),
		"zeroes":          lines[0] + lines[1] + strings.Repeat("\x00", 40),
		"garbled payload": lines[0] + lines[1] + strings.Replace(third, "eth0", "eth1", 1),
	} {
		if err := os.WriteFile(JournalPath(path), []byte(torn), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !got.Journal.TornTail || got.Journal.Replayed != 2 || len(got.Assignments) != 2 {
			t.Errorf("%s: stats %+v, %d assignments; want the torn third record dropped", name, got.Journal, len(got.Assignments))
		}
	}
}

func TestJournalCorruptionBeforeTheLastRecordFailsLoad(t *testing.T) {
	w, path := newWriter(t)
	for i := range 3 {
		if err := w.Assign(assignment(i)); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(JournalPath(path))
	bad := strings.Replace(string(data), "pod-1", "pod-X", 1)
	if err := os.WriteFile(JournalPath(path), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "record 2 of 3 is corrupt (checksum mismatch)") {
		t.Fatalf("Load of a journal corrupt in the middle: %v", err)
	}
}

// A crash after a new snapshot was renamed into place but before the journal
// was emptied leaves records the snapshot already holds: they are skipped,
// so a release recorded after them is not undone by replaying them.
func TestJournalStaleRecordsAreSkipped(t *testing.T) {
	w, path := newWriter(t)
	if err := w.Assign(assignment(0)); err != nil {
		t.Fatal(err)
	}
	f, _ := Load(path)
	stale, _ := os.ReadFile(JournalPath(path))
	// The next snapshot (without the allocation, as after a reconcile) ...
	f.Assignments = nil
	if err := w.Save(f); err != nil {
		t.Fatal(err)
	}
	// ... and the journal as if emptying it never reached the disk.
	if err := os.WriteFile(JournalPath(path), stale, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Assignments) != 0 || got.Journal.Stale != 1 || got.Journal.Replayed != 0 {
		t.Fatalf("stale record replayed: %d assignments, stats %+v", len(got.Assignments), got.Journal)
	}
}

func TestJournalNewerThanSnapshotFailsLoad(t *testing.T) {
	w, path := newWriter(t)
	if err := w.Assign(assignment(0)); err != nil {
		t.Fatal(err)
	}
	f, _ := Load(path)
	f.Generation-- // an older snapshot put back in place
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "the snapshot is older than its journal") {
		t.Fatalf("Load: %v", err)
	}
}

func TestVersion1SnapshotLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint.json")
	v1 := `{"version":1,"instanceID":"i-1","mode":"secondary","assignments":[{"key":{"network":"eksnet","containerID":"c1","ifName":"eth0"},"since":"2026-11-28T04:00:00Z","address":"10.0.1.17","eniID":"eni-1","deviceNumber":1}]}`
	if err := os.WriteFile(path, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil || got.Version != Version || len(got.Assignments) != 1 || got.Generation != 0 {
		t.Fatalf("version 1: %+v %v", got, err)
	}
}

func TestAppendBeforeSaveIsRefused(t *testing.T) {
	w := NewWriter(filepath.Join(t.TempDir(), "checkpoint.json"), 0)
	if !w.Due(0) {
		t.Error("a new writer does not ask for a snapshot first")
	}
	if err := w.Assign(assignment(0)); err == nil {
		t.Error("append without a snapshot accepted")
	}
}

// BenchmarkRecord compares recording one allocation as a journal append with
// rewriting the snapshot, with 1 and 250 pods on the node: the append costs
// the same at both, the snapshot grows with the pods.
//
//	go test -run '^$' -bench Record ./cni-agent/checkpoint
func BenchmarkRecord(b *testing.B) {
	for _, pods := range []int{1, 250} {
		f := File{InstanceID: "i-1", Mode: "prefix"}
		for i := range pods {
			f.Assignments = append(f.Assignments, assignment(i))
		}
		b.Run(fmt.Sprintf("append/pods=%d", pods), func(b *testing.B) {
			w, _ := newWriter(b)
			if err := w.Save(f); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				if w.Due(pods) {
					b.StopTimer()
					if err := w.Save(f); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				if err := w.Assign(assignment(pods + i%64)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("snapshot/pods=%d", pods), func(b *testing.B) {
			w, _ := newWriter(b)
			for b.Loop() {
				if err := w.Save(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
