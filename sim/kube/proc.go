package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// proc is one long-lived upstream process (etcd, kube-apiserver, kubelet,
// containerd...) with its output in a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startProc starts cmd, logging to logPath; start runs cmd.Start (in a
// node's namespace for node processes).
func startProc(name string, cmd *exec.Cmd, logPath string, start func(*exec.Cmd) error) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the log of %s: %w", name, err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group, so a Ctrl-C on the terminal reaches eksnet
	// only, and eksnet stops the processes in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if start == nil {
		start = (*exec.Cmd).Start
	}
	if err := start(cmd); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// exitError says how the process ended, with the end of its log.
func (p *proc) exitError() error {
	return fmt.Errorf("%s exited (%v); the end of %s:\n%s", p.name, p.err, p.log, logTail(p.log, 15))
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) error {
	if p == nil || !p.running() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return nil
}

// logTail is the last n lines of the file at path.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return tail(string(b), n)
}

// waitFor polls ok every 200 ms until it returns true, p exits, or timeout.
func waitFor(ctx context.Context, what string, timeout time.Duration, p *proc, ok func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		done, err := ok()
		if done {
			return nil
		}
		if err != nil {
			last = err
		}
		if p != nil && !p.running() {
			return p.exitError()
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("waited %v for %s", timeout, what)
			if last != nil {
				msg += ": " + last.Error()
			}
			if p != nil {
				msg += "; the end of " + p.log + ":\n" + logTail(p.log, 15)
			}
			return errors.New(msg)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// flags renders --key=value flags in a stable order.
func flags(kv [][2]string) []string {
	out := make([]string, 0, len(kv))
	for _, f := range kv {
		out = append(out, "--"+f[0]+"="+f[1])
	}
	return out
}

// joinComma joins s with commas.
func joinComma(s ...string) string { return strings.Join(s, ",") }
