package checkpoint

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/eksnet/eksnet/cni-agent/ipam"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// FuzzLoad feeds arbitrary bytes to the checkpoint decoder: a torn or
// corrupt file must give an error, never a panic or a half-read File, and a
// file it accepts must survive Save and Load unchanged, so a restart never
// rewrites what the previous agent meant. Seeds are in
// testdata/fuzz/FuzzLoad; CI runs it with -fuzztime=10s.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"version":1,"instanceID":"i-0abc","mode":"prefix","assignments":[]}`))
	f.Add([]byte(`{"version":1,"instanceID":"i-0abc","mode":"secondary","assignments":[{"key":{"network":"eksnet","containerID":"c1","ifName":"eth0"},"netns":"/var/run/netns/p1","since":"2026-11-28T04:00:00Z","address":"10.0.1.17","eniID":"eni-1","deviceNumber":1}],"cooldowns":{"10.0.1.18":"2026-11-28T04:00:00Z"}}`))
	f.Add([]byte(`{"version":1,"instanceID":"i-0abc","mode":"pre`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := fastTempDir(t)
		path := filepath.Join(dir, "checkpoint.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil {
			if IsNotExist(err) {
				t.Fatalf("a file that exists reported as missing: %v", err)
			}
			return
		}
		if got.Version != Version {
			t.Fatalf("Load accepted version %d", got.Version)
		}
		again := filepath.Join(dir, "again.json")
		if err := Save(again, got); err != nil {
			t.Fatalf("saving what Load accepted: %v", err)
		}
		back, err := Load(again)
		if err != nil {
			t.Fatalf("loading what Save wrote: %v", err)
		}
		if back.InstanceID != got.InstanceID || back.Mode != got.Mode || len(back.Assignments) != len(got.Assignments) || len(back.Cooldowns) != len(got.Cooldowns) {
			t.Fatalf("round trip changed the checkpoint:\n got  %+v\n back %+v", got, back)
		}
		for i, a := range got.Assignments {
			b := back.Assignments[i]
			if a.Key != b.Key || a.Address != b.Address || a.ENIID != b.ENIID || a.Netns != b.Netns || !a.Since.Equal(b.Since) {
				t.Fatalf("assignment %d changed: %+v -> %+v", i, a, b)
			}
		}
		for addr, at := range got.Cooldowns {
			if bt, ok := back.Cooldowns[addr]; !ok || !bt.Equal(at) {
				t.Fatalf("cooldown of %s changed: %v -> %v", addr, at, bt)
			}
		}
	})
}

// fastTempDir is a temporary directory on tmpfs when the host has one: Save
// fsyncs twice per call, which on a disk would hold the fuzzer to a few
// executions a second.
func fastTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "eksnet-checkpoint-fuzz-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// FuzzJournal feeds arbitrary bytes as the journal beside a good snapshot:
// Load must not panic, must either fail or return a state in which every
// key is held once (two keys on one address, which only a forged journal
// can say, are for ipam.Store.Restore to reject), and what it accepts must
// survive a snapshot and Load unchanged. The seeds (below) are a good
// journal, a torn one and one with a stale record before good ones; the
// checksum on every line is what most random input runs into.
func FuzzJournal(f *testing.F) {
	good := func(records ...record) []byte {
		var out []byte
		for _, r := range records {
			line, err := encodeRecord(r)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, line...)
		}
		return out
	}
	as := assignment(1)
	k := key(0)
	seed := good(record{Generation: 7, Op: opAssign, Assignment: &as}, record{Generation: 7, Op: opRelease, Key: &k, Address: assignment(0).Address})
	f.Add(seed)
	f.Add(seed[:len(seed)-20])
	f.Add(append(good(record{Generation: 6, Op: opAssign, Assignment: &as}), seed...))
	f.Add([]byte("00000000 {}\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, journal []byte) {
		dir := fastTempDir(t)
		path := filepath.Join(dir, "checkpoint.json")
		snap := File{InstanceID: "i-1", Mode: "prefix", Generation: 7, Assignments: []ipam.Assignment{assignment(0)}}
		if err := Save(path, snap); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(JournalPath(path), journal, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil {
			return
		}
		keys := map[rpc.Key]bool{}
		for _, a := range got.Assignments {
			if keys[a.Key] {
				t.Fatalf("key %v held twice after replay", a.Key)
			}
			keys[a.Key] = true
		}
		again := filepath.Join(dir, "again.json")
		if err := Save(again, got); err != nil {
			t.Fatal(err)
		}
		back, err := Load(again)
		if err != nil {
			t.Fatalf("loading the snapshot of a replayed journal: %v", err)
		}
		if len(back.Assignments) != len(got.Assignments) || len(back.Cooldowns) != len(got.Cooldowns) {
			t.Fatalf("snapshot of the replay changed it: %d/%d assignments, %d/%d cooldowns",
				len(back.Assignments), len(got.Assignments), len(back.Cooldowns), len(got.Cooldowns))
		}
	})
}
