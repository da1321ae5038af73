// Package crashloop decides, each time the agent's process has ended,
// whether the node must stop advertising its pod network, and does so.
//
// containerd 1.6 and 1.7 never ask a CNI plugin for STATUS: the runtime
// reports the network ready whenever a conflist is in its configuration
// directory, and kubelet keeps the node Ready and keeps sending it pods.
// So when the agent is down for good the conflist must go (cniconf.Withdraw),
// and the agent writes it back once it serves again.
//
// The agent's systemd unit runs `eksnet-agent withdraw` as ExecStopPost,
// after every end of the process, with systemd's account of it in the
// environment (SERVICE_RESULT, EXIT_CODE, EXIT_STATUS; systemd.exec(5)):
//   - a clean stop (SERVICE_RESULT=success: `systemctl stop`, shutdown)
//     withdraws: nothing restarts the agent. The agent withdraws on SIGTERM
//     itself; this covers an agent that never got that far.
//   - a crash (any other result: a non-zero exit, a signal, a core dump, a
//     stop timeout) is recorded in crashes.json beside the agent's
//     checkpoint; systemd restarts the agent (Restart=always), and one crash
//     is no reason to turn the node away, but the CrashLimit-th crash within
//     CrashWindow is a crash loop and withdraws.
//   - run by hand (no SERVICE_RESULT), it withdraws: an operator asked.
package crashloop

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eksnet/eksnet/cni-agent/cniconf"
	"github.com/eksnet/eksnet/internal/atomicfile"
)

// A crash loop is CrashLimit crashes within CrashWindow: with the unit's
// RestartSec=2 an agent that fails at start reaches it in seconds, while
// one crash a day never does.
const (
	CrashLimit  = 3
	CrashWindow = 2 * time.Minute
)

// HistoryName is the crash history's file name, beside the checkpoint.
const HistoryName = "crashes.json"

// HistoryPath is the crash history kept beside the checkpoint at
// checkpointPath (the agent's state directory, which survives a reboot).
func HistoryPath(checkpointPath string) string {
	return filepath.Join(filepath.Dir(checkpointPath), HistoryName)
}

// Exit is how the agent's process ended, as systemd tells ExecStopPost.
type Exit struct {
	// Result is SERVICE_RESULT ("success", "exit-code", "signal",
	// "core-dump", "timeout", ...); "" when not run by systemd.
	Result string
	// Code is EXIT_CODE ("exited", "killed", "dumped").
	Code string
	// Status is EXIT_STATUS: the exit status or the signal's name.
	Status string
}

// ExitFromEnv reads systemd's ExecStopPost variables.
func ExitFromEnv(getenv func(string) string) Exit {
	return Exit{Result: getenv("SERVICE_RESULT"), Code: getenv("EXIT_CODE"), Status: getenv("EXIT_STATUS")}
}

// Env is e as systemd sets it for ExecStopPost (for supervisors that play
// systemd, such as the simulation).
func (e Exit) Env() []string {
	return []string{"SERVICE_RESULT=" + e.Result, "EXIT_CODE=" + e.Code, "EXIT_STATUS=" + e.Status}
}

// ExitOf describes a process that ended as systemd does: an exit status 0
// or death by SIGHUP, SIGINT, SIGTERM or SIGPIPE is "success" (systemd's
// clean exits for a service), any other status "exit-code", any other
// signal "signal" ("core-dump" with a core).
func ExitOf(ps *os.ProcessState) Exit {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return Exit{Result: "exit-code", Code: "exited", Status: strconv.Itoa(ps.ExitCode())}
	}
	if ws.Signaled() {
		sig := ws.Signal()
		e := Exit{Result: "signal", Code: "killed", Status: strings.TrimPrefix(unix.SignalName(sig), "SIG")}
		switch {
		case ws.CoreDump():
			e.Result, e.Code = "core-dump", "dumped"
		case sig == syscall.SIGHUP || sig == syscall.SIGINT || sig == syscall.SIGTERM || sig == syscall.SIGPIPE:
			e.Result = "success"
		}
		return e
	}
	e := Exit{Result: "success", Code: "exited", Status: strconv.Itoa(ws.ExitStatus())}
	if ws.ExitStatus() != 0 {
		e.Result = "exit-code"
	}
	return e
}

func (e Exit) String() string {
	if e.Result == "" {
		return "not run by systemd"
	}
	return fmt.Sprintf("SERVICE_RESULT=%s EXIT_CODE=%s EXIT_STATUS=%s", e.Result, e.Code, e.Status)
}

// History is the agent's recent crashes, oldest first.
type History struct {
	Crashes []time.Time `json:"crashes"`
}

// Decision is what to do after one exit.
type Decision struct {
	// Withdraw: remove the conflist.
	Withdraw bool
	// Reason says why, for the log.
	Reason string
	// History is what to keep for the next exit.
	History History
}

// Decide is the rule: a clean stop withdraws and forgets the crashes; a
// crash is remembered and withdraws once it is the CrashLimit-th within
// CrashWindow; an exit systemd did not describe withdraws.
func Decide(h History, e Exit, now time.Time) Decision {
	switch e.Result {
	case "":
		return Decision{Withdraw: true, Reason: "run by hand", History: h}
	case "success":
		return Decision{Withdraw: true, Reason: "clean stop: nothing restarts the agent"}
	}
	var recent []time.Time
	for _, t := range h.Crashes {
		if now.Sub(t) < CrashWindow && !t.After(now) {
			recent = append(recent, t)
		}
	}
	recent = append(recent, now)
	d := Decision{History: History{Crashes: recent}}
	if len(recent) >= CrashLimit {
		d.Withdraw = true
		d.Reason = fmt.Sprintf("crash loop: %d crashes within %v (%s)", len(recent), CrashWindow, e)
	} else {
		d.Reason = fmt.Sprintf("crash %d of %d within %v before the node is withdrawn (%s)", len(recent), CrashLimit, CrashWindow, e)
	}
	return d
}

// Hook is one run of the stop hook.
type Hook struct {
	// ConfDir is the runtime's CNI configuration directory.
	ConfDir string
	// HistoryPath is crashes.json (HistoryPath of the checkpoint).
	HistoryPath string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Outcome is what a hook run did.
type Outcome struct {
	Decision
	// Removed: a conflist was there and is gone.
	Removed bool
}

// Run records e, decides and withdraws. A history that cannot be read (a
// torn or foreign file) is started afresh rather than blocking the
// decision: counting from zero only delays a withdrawal by two crashes.
func (k Hook) Run(e Exit) (Outcome, error) {
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	h, _ := loadHistory(k.HistoryPath)
	d := Decide(h, e, now())
	if err := saveHistory(k.HistoryPath, d.History); err != nil {
		return Outcome{Decision: d}, err
	}
	out := Outcome{Decision: d}
	if !d.Withdraw {
		return out, nil
	}
	removed, err := cniconf.Withdraw(k.ConfDir)
	out.Removed = removed
	return out, err
}

func loadHistory(path string) (History, error) {
	var h History
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("reading the crash history %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return History{}, fmt.Errorf("parsing the crash history %s: %w", path, err)
	}
	return h, nil
}

func saveHistory(path string, h History) error {
	if h.Crashes == nil {
		h.Crashes = []time.Time{}
	}
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encoding the crash history: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating the crash history's directory: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the crash history: %w", err)
	}
	return nil
}
