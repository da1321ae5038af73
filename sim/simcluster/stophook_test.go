package simcluster

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestStopHookWithdrawsWhenTheAgentStaysDown: the simulated unit runs
// `eksnet-agent withdraw` after every exit, as systemd runs ExecStopPost.
// A clean stop withdraws the conflist (the agent on SIGTERM, the hook
// after it); a restart that serves writes it back; one or two crashes keep
// it (systemd restarts the agent); the third crash within two minutes
// withdraws it; a start after that serves and writes it back again.
func TestStopHookWithdrawsWhenTheAgentStaysDown(t *testing.T) {
	c := newCluster(t)
	n := startNode(t, c, "hook", "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	present := func() bool { _, err := os.Stat(n.ConflistPath()); return err == nil }
	restart := func(what string) {
		t.Helper()
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := n.WaitReady(ctx); err != nil {
			t.Fatalf("after %s: %v", what, err)
		}
		if err := n.WaitServing(ctx); err != nil {
			t.Fatalf("after %s: %v", what, err)
		}
	}

	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if present() {
		t.Fatal("the conflist is still there after a clean stop: the node would stay Ready with no agent")
	}
	restart("the clean stop")
	for i := 1; i <= 3; i++ {
		if err := n.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		if want := i < 3; present() != want {
			t.Fatalf("after crash %d: conflist there = %v, want %v; log tail:\n%s", i, present(), want, n.LogTail(5))
		}
		restart("a crash")
	}
	if !present() {
		t.Fatal("the agent serves again but its conflist is not back")
	}
}
