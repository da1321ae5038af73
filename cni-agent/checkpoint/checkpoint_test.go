package checkpoint

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/ipam"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "checkpoint.json")
	if _, err := Load(path); !IsNotExist(err) {
		t.Fatalf("missing checkpoint: %v", err)
	}
	freed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := File{
		InstanceID: "i-1", Mode: "prefix",
		Assignments: []ipam.Assignment{{
			Owner:   ipam.Owner{Key: rpc.Key{Network: "eksnet", ContainerID: "c1", IfName: "eth0"}, PodName: "web", Since: freed},
			Address: netip.MustParseAddr("10.0.0.17"), ENIID: "eni-1", DeviceNumber: 1,
		}},
		Cooldowns: map[netip.Addr]time.Time{netip.MustParseAddr("10.0.0.18"): freed},
	}
	for range 2 { // the second save replaces the first
		if err := Save(path, in); err != nil {
			t.Fatal(err)
		}
	}
	out, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.Version != Version || len(out.Assignments) != 1 || out.Assignments[0].Key.ContainerID != "c1" ||
		out.Assignments[0].Address != in.Assignments[0].Address || !out.Cooldowns[netip.MustParseAddr("10.0.0.18")].Equal(freed) {
		t.Fatalf("round trip: %+v", out)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"torn": `{"version":1,"assign`, "future": `{"version":3}`} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := Load(p); err == nil || IsNotExist(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
