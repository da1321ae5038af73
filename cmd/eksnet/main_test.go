package main

import (
	"errors"
	"fmt"
	"os/exec"
	"testing"
)

func TestExitStatusPassesChildStatusThrough(t *testing.T) {
	child := exec.Command("sh", "-c", "exit 3").Run()
	if got := exitStatus(fmt.Errorf("sh in node node-0: %w", child)); got != 3 {
		t.Errorf("exitStatus(child exited 3) = %d, want 3", got)
	}
	if got := exitStatus(errors.New("bad flag")); got != 1 {
		t.Errorf("exitStatus(plain error) = %d, want 1", got)
	}
}
