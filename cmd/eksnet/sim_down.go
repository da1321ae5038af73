package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/sim"
)

func newSimDownCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "down NAME",
		Short: "Stop a simulated VPC's daemon and remove every namespace, veth and bridge of it",
		Long: `Stop the daemon (SIGTERM, then SIGKILL after 60s: a kept run with Kubernetes stops its nodes first) and remove everything of the simulation:
its namespaces (and with them all its veths and bridges) and its state directory. It also
cleans up after a daemon that crashed or was killed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := sim.ValidateName(name); err != nil {
				return err
			}
			_, dirErr := os.Stat(simDir(name))
			nss, err := sim.Namespaces(name)
			if err != nil {
				return err
			}
			if errors.Is(dirErr, os.ErrNotExist) && len(nss) == 0 {
				return fmt.Errorf("simulation %q: nothing to remove (no state in %s, no namespaces %s.*)", name, simDir(name), name)
			}
			if pid := readPID(name); processAlive(pid) {
				if err := stopDaemon(pid, 60*time.Second); err != nil {
					return err
				}
			}
			if err := sim.Sweep(name); err != nil {
				return fmt.Errorf("removing namespaces of simulation %q: %w", name, err)
			}
			if err := os.RemoveAll(simDir(name)); err != nil {
				return fmt.Errorf("removing %s: %w", simDir(name), err)
			}
			fmt.Fprintf(a.stdout, "simulation %s removed\n", name)
			return nil
		},
	}
}

// stopDaemon asks the daemon to close the VPC itself, then insists.
func stopDaemon(pid int, grace time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping daemon pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(grace)
	for processAlive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if processAlive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 100 && processAlive(pid); i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}
