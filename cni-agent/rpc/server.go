package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Handler is what the agent implements to serve the API. Errors that are not
// *Error reach the plugin as CodeInternal.
type Handler interface {
	Allocate(ctx context.Context, req AllocateRequest) (Allocation, error)
	// Release returns the released allocation, or nil when the key had none.
	Release(ctx context.Context, key Key) (*Allocation, error)
	Check(ctx context.Context, key Key) (Allocation, error)
	List(ctx context.Context) ([]Allocation, error)
	Status(ctx context.Context) (Status, error)
}

// VethReaper is implemented by handlers that delete released pods' host
// veths in the background. ReapVeth must not block: it queues the veth and
// reports whether it did; false leaves the deletion to the plugin.
type VethReaper interface {
	ReapVeth(v VethRef) bool
}

// Server serves a Handler on a unix socket.
type Server struct {
	Handler Handler
	Logger  *slog.Logger
	// AllowedUIDs are the peer user IDs served; empty means root only. The
	// socket's 0600 mode already keeps others out, but file modes can be
	// changed by accident and SO_PEERCRED cannot.
	AllowedUIDs []uint32
	// RequestTimeout bounds reading a request and handling it; 0 means 30 s.
	RequestTimeout time.Duration
}

// Listen creates the socket at path, root-only: the directory is created 0700
// if missing, a stale socket from a previous run is removed (any other kind
// of file there is an error, never deleted), and the socket is made 0600.
func Listen(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating socket directory for %s: %w", path, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("socket path %s exists and is not a socket (%s)", path, fi.Mode().Type())
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket %s: %w", path, err)
		}
	}
	// Bind with a umask that leaves no window in which others may connect.
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restricting %s to root: %w", path, err)
	}
	return ln, nil
}

// Serve answers connections on ln until ctx ends, then closes ln and waits
// for the requests in flight.
func (s *Server) Serve(ctx context.Context, ln *net.UnixListener) error {
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accepting on %s: %w", ln.Addr(), err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, conn, logger)
		}()
	}
}

func (s *Server) serveConn(ctx context.Context, conn *net.UnixConn, logger *slog.Logger) {
	defer conn.Close()
	timeout := s.RequestTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_ = conn.SetDeadline(time.Now().Add(timeout))

	enc := json.NewEncoder(conn)
	uid, err := peerUID(conn)
	if err != nil {
		logger.Warn("refusing connection: peer credentials unreadable", "err", err)
		_ = enc.Encode(Response{Error: Errorf(CodeInvalidRequest, "peer credentials unreadable: %v", err)})
		return
	}
	allowed := s.AllowedUIDs
	if len(allowed) == 0 {
		allowed = []uint32{0}
	}
	if !slices.Contains(allowed, uid) {
		logger.Warn("refusing connection from unprivileged peer", "uid", uid)
		_ = enc.Encode(Response{Error: Errorf(CodeInvalidRequest, "permission denied: uid %d may not use the eksnet-agent socket", uid)})
		return
	}

	var req Request
	if err := json.NewDecoder(conn).Decode(&req); err != nil {
		_ = enc.Encode(Response{Error: Errorf(CodeInvalidRequest, "decoding request: %v", err)})
		return
	}
	resp := s.dispatch(ctx, req)
	if resp.Error != nil && resp.Error.Code == CodeInternal {
		logger.Error("request failed", "op", req.Op, "err", resp.Error.Message)
	}
	if err := enc.Encode(resp); err != nil {
		logger.Warn("writing response", "op", req.Op, "err", err)
	}
}

func (s *Server) dispatch(ctx context.Context, req Request) Response {
	switch req.Op {
	case OpAllocate:
		if req.Allocate == nil {
			return errorResponse(Errorf(CodeInvalidRequest, "allocate: missing allocate body"))
		}
		if err := req.Allocate.Key.Validate(); err != nil {
			return errorResponse(err)
		}
		a, err := s.Handler.Allocate(ctx, *req.Allocate)
		if err != nil {
			return errorResponse(err)
		}
		return Response{Allocation: &a}
	case OpRelease, OpCheck:
		if req.Key == nil {
			return errorResponse(Errorf(CodeInvalidRequest, "%s: missing key", req.Op))
		}
		if err := req.Key.Validate(); err != nil {
			return errorResponse(err)
		}
		if req.Op == OpRelease {
			if req.Veth != nil {
				if err := req.Veth.Validate(); err != nil {
					return errorResponse(err)
				}
			}
			a, err := s.Handler.Release(ctx, *req.Key)
			if err != nil {
				return errorResponse(err)
			}
			resp := Response{Allocation: a}
			if r, ok := s.Handler.(VethReaper); ok && req.Veth != nil {
				resp.VethQueued = r.ReapVeth(*req.Veth)
			}
			return resp
		}
		a, err := s.Handler.Check(ctx, *req.Key)
		if err != nil {
			return errorResponse(err)
		}
		return Response{Allocation: &a}
	case OpList:
		list, err := s.Handler.List(ctx)
		if err != nil {
			return errorResponse(err)
		}
		if list == nil {
			list = []Allocation{}
		}
		return Response{Allocations: list}
	case OpStatus:
		st, err := s.Handler.Status(ctx)
		if err != nil {
			return errorResponse(err)
		}
		return Response{Status: &st}
	default:
		return errorResponse(Errorf(CodeInvalidRequest, "unknown op %q (accepted: allocate, release, check, list, status)", req.Op))
	}
}

func errorResponse(err error) Response {
	var e *Error
	if errors.As(err, &e) {
		return Response{Error: e}
	}
	return Response{Error: &Error{Code: CodeInternal, Message: err.Error()}}
}

// peerUID reads the connecting process's user ID from the kernel.
func peerUID(conn *net.UnixConn) (uint32, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	return cred.Uid, nil
}
