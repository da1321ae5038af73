package agent

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// reapQueueSize bounds the veths waiting for deletion; a DEL that finds the
// queue full deletes its veth itself, so a burst never blocks the socket.
const reapQueueSize = 512

// reapDrain bounds how long a stopping agent keeps deleting queued veths;
// what is left then goes with the pods' namespaces.
const reapDrain = 5 * time.Second

// vethReaper deletes the host veths that DELs have cut off (no route, link
// down), off the DEL's path: the kernel's veth deletion waits for
// an RCU grace period, most of what a DEL would otherwise cost. Nothing
// depends on it for correctness: a veth it never deletes (the agent was
// killed) is deleted with the pod's namespace, and datapath.DeleteHostVeth
// never touches a veth a newer sandbox created.
type vethReaper struct {
	log *slog.Logger
	del func(datapath.HostLink) error

	mu    sync.Mutex
	open  bool
	queue chan datapath.HostLink
}

func newVethReaper(log *slog.Logger, del func(datapath.HostLink) error) *vethReaper {
	return &vethReaper{log: log, del: del, queue: make(chan datapath.HostLink, reapQueueSize)}
}

// enqueue takes l for deletion; false when the reaper is not running or the
// queue is full, and the caller must delete l itself.
func (r *vethReaper) enqueue(l datapath.HostLink) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.open {
		return false
	}
	select {
	case r.queue <- l:
		return true
	default:
		return false
	}
}

// start opens the queue; run must follow.
func (r *vethReaper) start() {
	r.mu.Lock()
	r.open = true
	r.mu.Unlock()
}

// run deletes queued veths until ctx ends, then closes the queue and
// deletes what was queued for at most drain.
func (r *vethReaper) run(ctx context.Context, drain time.Duration) {
	for {
		select {
		case l := <-r.queue:
			r.delete(l)
		case <-ctx.Done():
			r.mu.Lock()
			r.open = false
			r.mu.Unlock()
			deadline := time.Now().Add(drain)
			for {
				select {
				case l := <-r.queue:
					if time.Now().Before(deadline) {
						r.delete(l)
					}
				default:
					return
				}
			}
		}
	}
}

func (r *vethReaper) delete(l datapath.HostLink) {
	if err := r.del(l); err != nil {
		r.log.Warn("deleting a released pod's host veth; it goes with the pod's namespace", "veth", l.Name, "index", l.Index, "err", err)
	}
}

var _ rpc.VethReaper = (*Agent)(nil)

// ReapVeth queues the host veth of a released pod for deletion in the
// background (see vethReaper).
func (a *Agent) ReapVeth(v rpc.VethRef) bool {
	return a.reaper.enqueue(datapath.HostLink{Name: v.Name, Index: v.Index})
}
