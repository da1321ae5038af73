package cniconf

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

// TestWithdrawRemovesOnlyOurConflist: after Withdraw libcni finds no eksnet
// network (what makes the runtime report the network not ready), the
// plugin and other networks' files stay, a second Withdraw is a no-op, and
// a file under our name that is not ours is refused and kept.
func TestWithdrawRemovesOnlyOurConflist(t *testing.T) {
	c := validConfig(t)
	if err := Install(c); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(c.ConfDir, "20-other.conflist")
	if err := os.WriteFile(other, []byte(`{"cniVersion":"1.0.0","name":"other","plugins":[{"type":"bridge"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	removed, err := Withdraw(c.ConfDir)
	if err != nil || !removed {
		t.Fatalf("Withdraw = %v, %v; want true, nil", removed, err)
	}
	files, err := libcni.ConfFiles(c.ConfDir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{other}; !slices.Equal(files, want) {
		t.Errorf("CNI files after Withdraw: %v, want only %v", files, want)
	}
	if _, err := os.Stat(filepath.Join(c.BinDir, PluginType)); err != nil {
		t.Errorf("Withdraw removed the plugin: %v", err)
	}
	if removed, err := Withdraw(c.ConfDir); err != nil || removed {
		t.Errorf("second Withdraw = %v, %v; want false, nil", removed, err)
	}

	foreign := filepath.Join(c.ConfDir, ConflistName)
	if err := os.WriteFile(foreign, []byte(`{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"aws-cni"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Withdraw(c.ConfDir); err == nil || !strings.Contains(err.Error(), "not eksnet's conflist") {
		t.Errorf("Withdraw of a foreign %s: %v, want a refusal", ConflistName, err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("the foreign conflist was removed: %v", err)
	}
	if _, err := Withdraw("net.d"); err == nil || !strings.Contains(err.Error(), "ConfDir") {
		t.Errorf("Withdraw(relative) = %v, want an error naming ConfDir", err)
	}
}
