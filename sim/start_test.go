package sim_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/sim"
)

// TestNodeStartRunsInTheNode: a process started with Node.Start sees the
// node's interfaces (its eth0 with the node's address), not the host's, and
// the caller's own goroutines stay in the host namespace.
func TestNodeStartRunsInTheNode(t *testing.T) {
	vpc := newVPC(t, sim.Config{})
	n := addNode(t, vpc, sim.NodeSpec{Name: "node-0", InstanceType: "t3.medium"})

	cmd := exec.Command("ip", "-4", "-o", "addr", "show", "dev", "eth0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := n.Start(cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ip addr in the node: %v: %s", err, out.String())
	}
	if want := " " + n.PrimaryIP.String() + "/"; !strings.Contains(out.String(), want) {
		t.Errorf("eth0 of a process started in the node = %q, want the node's address %s", out.String(), n.PrimaryIP)
	}

	host, err := exec.Command("ip", "-4", "-o", "addr").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(host), " "+n.PrimaryIP.String()+"/") {
		t.Errorf("the host namespace shows the node's address after Start:\n%s", host)
	}
}
