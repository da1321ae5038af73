package crashloop

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/cniconf"
)

var (
	t0     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	crash  = Exit{Result: "signal", Code: "killed", Status: "KILL"}
	failed = Exit{Result: "exit-code", Code: "exited", Status: "1"}
	clean  = Exit{Result: "success", Code: "exited", Status: "0"}
)

func TestDecide(t *testing.T) {
	for _, tt := range []struct {
		name     string
		crashes  []time.Duration // before now
		exit     Exit
		withdraw bool
		kept     int
	}{
		{"first crash stays", nil, crash, false, 1},
		{"second crash stays", []time.Duration{10 * time.Second}, failed, false, 2},
		{"third crash within the window withdraws", []time.Duration{100 * time.Second, 5 * time.Second}, crash, true, 3},
		{"old crashes are forgotten", []time.Duration{3 * time.Minute, CrashWindow}, crash, false, 1},
		{"a crash in the future (clock stepped back) is forgotten", []time.Duration{-time.Minute, 5 * time.Second}, crash, false, 2},
		{"clean stop withdraws and forgets", []time.Duration{5 * time.Second}, clean, true, 0},
		{"by hand withdraws and keeps the history", []time.Duration{5 * time.Second}, Exit{}, true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var h History
			for _, ago := range tt.crashes {
				h.Crashes = append(h.Crashes, t0.Add(-ago))
			}
			d := Decide(h, tt.exit, t0)
			if d.Withdraw != tt.withdraw || len(d.History.Crashes) != tt.kept {
				t.Errorf("Decide = withdraw %v, %d crashes kept (%s); want %v, %d", d.Withdraw, len(d.History.Crashes), d.Reason, tt.withdraw, tt.kept)
			}
		})
	}
}

// TestHookWithdrawsOnTheThirdCrash runs the hook as systemd would after
// each exit, against real files: the conflist stays through two crashes,
// goes on the third, and the history is on disk between runs (each run is
// a new process).
func TestHookWithdrawsOnTheThirdCrash(t *testing.T) {
	dir := t.TempDir()
	confDir := filepath.Join(dir, "net.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	conflist := filepath.Join(confDir, cniconf.ConflistName)
	write := func() {
		if err := os.WriteFile(conflist, []byte(`{"cniVersion":"1.0.0","name":"eksnet","plugins":[{"type":"eksnet-cni"}]}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write()
	now := t0
	hook := Hook{ConfDir: confDir, HistoryPath: HistoryPath(filepath.Join(dir, "checkpoint.json")), Now: func() time.Time { return now }}
	for i, want := range []bool{true, true, false} {
		now = now.Add(20 * time.Second)
		out, err := hook.Run(crash)
		if err != nil {
			t.Fatal(err)
		}
		_, statErr := os.Stat(conflist)
		if there := statErr == nil; there != want {
			t.Fatalf("after crash %d: conflist there = %v, want %v (%s)", i+1, there, want, out.Reason)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, HistoryName)); err != nil {
		t.Errorf("no crash history beside the checkpoint: %v", err)
	}
	// The agent serves again and reinstalls; a clean stop withdraws and
	// clears the history, so the next crash is the first.
	write()
	if out, err := hook.Run(clean); err != nil || !out.Removed {
		t.Fatalf("clean stop: %+v, %v; want the conflist removed", out, err)
	}
	write()
	now = now.Add(time.Second)
	if out, err := hook.Run(crash); err != nil || out.Withdraw {
		t.Errorf("first crash after a clean stop: %+v, %v; want the conflist kept", out, err)
	}
	// A torn history does not block the hook.
	if err := os.WriteFile(hook.HistoryPath, []byte("{torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := hook.Run(crash); err != nil {
		t.Errorf("hook with a torn history: %v", err)
	}
}

// TestExitOf: real processes, described as systemd describes them.
func TestExitOf(t *testing.T) {
	for _, tt := range []struct {
		script string
		want   Exit
	}{
		{"exit 0", clean},
		{"exit 2", Exit{Result: "exit-code", Code: "exited", Status: "2"}},
		{"kill -TERM $$", Exit{Result: "success", Code: "killed", Status: "TERM"}},
		{"kill -KILL $$", crash},
	} {
		cmd := exec.Command("sh", "-c", tt.script)
		_ = cmd.Run()
		if got := ExitOf(cmd.ProcessState); got != tt.want {
			t.Errorf("sh -c %q: ExitOf = %+v, want %+v", tt.script, got, tt.want)
		}
	}
}
