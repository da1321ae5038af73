package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// errPluginNotAvailable is CNI 1.1's STATUS code for "cannot serve ADD now",
// not yet named in containernetworking/cni v1.3.0.
const (
	errPluginNotAvailable uint = 50
)

// agentUnreachable reports a transport failure: no socket, nobody listening,
// the connection dropped, or no answer in time.
func agentUnreachable(err error) bool {
	if err == nil || rpc.CodeOf(err) != "" {
		return false
	}
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
}

// agentError turns an agent call failure into a CNI error with the code the
// runtime acts on: 11 (try again later) when the node has no address free or
// the agent is not up yet, so kubelet retries instead of failing the pod.
func agentError(op string, inv *invocation, err error) *types.Error {
	if agentUnreachable(err) {
		return types.NewError(types.ErrTryAgainLater,
			fmt.Sprintf("%s: eksnet-agent is not reachable at %s (is eksnet-agent running?)", op, inv.conf.SocketPath), err.Error())
	}
	// The agent's own message says why (node full vs warm pool catching up);
	// it goes into msg, which is what kubelet shows in pod events, and
	// details stays empty: runtimes print "msg; details", so repeating the
	// agent's message there printed every error twice.
	var why string
	var rpcErr *rpc.Error
	if errors.As(err, &rpcErr) {
		why = rpcErr.Message
	}
	switch rpc.CodeOf(err) {
	case rpc.CodeNoAddresses:
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("%s: no free pod address on this node: %s", op, why), "")
	case rpc.CodeNotReady:
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("%s: eksnet-agent is not ready yet: %s", op, why), "")
	case rpc.CodeNotFound:
		return types.NewError(types.ErrUnknownContainer, fmt.Sprintf("%s: eksnet-agent has no allocation for %s", op, inv.key()), "")
	case rpc.CodeInvalidRequest:
		return types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("%s: eksnet-agent rejected the request: %s", op, why), "")
	}
	return types.NewError(types.ErrInternal, fmt.Sprintf("%s: eksnet-agent failed: %v", op, err), "")
}
