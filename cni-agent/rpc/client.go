package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// Client talks to the agent. The zero value is not usable: set Path.
type Client struct {
	// Path is the agent's socket.
	Path string
	// Timeout bounds one call when ctx has no earlier deadline; 0 means 10 s.
	Timeout time.Duration
}

// Allocate asks for an address for req.Key; asking again for the same key
// returns the same address.
func (c *Client) Allocate(ctx context.Context, req AllocateRequest) (Allocation, error) {
	resp, err := c.call(ctx, Request{Op: OpAllocate, Allocate: &req})
	if err != nil {
		return Allocation{}, err
	}
	if resp.Allocation == nil {
		return Allocation{}, fmt.Errorf("allocate %s: agent answered without an allocation", req.Key)
	}
	return *resp.Allocation, nil
}

// Release returns the key's address to the pool. Releasing a key that has no
// allocation succeeds and returns a nil allocation.
func (c *Client) Release(ctx context.Context, key Key) (*Allocation, error) {
	resp, err := c.call(ctx, Request{Op: OpRelease, Key: &key})
	if err != nil {
		return nil, err
	}
	return resp.Allocation, nil
}

// ReleaseVeth is Release that also hands the agent a host veth to delete in
// the background. queued reports whether the agent took it; when it did not
// (an agent without the feature, a full queue, any error) the caller must
// delete the veth itself.
func (c *Client) ReleaseVeth(ctx context.Context, key Key, veth VethRef) (a *Allocation, queued bool, err error) {
	resp, err := c.call(ctx, Request{Op: OpRelease, Key: &key, Veth: &veth})
	if err != nil {
		return nil, false, err
	}
	return resp.Allocation, resp.VethQueued, nil
}

// Check returns the key's allocation; an error with CodeNotFound when none.
func (c *Client) Check(ctx context.Context, key Key) (Allocation, error) {
	resp, err := c.call(ctx, Request{Op: OpCheck, Key: &key})
	if err != nil {
		return Allocation{}, err
	}
	if resp.Allocation == nil {
		return Allocation{}, fmt.Errorf("check %s: agent answered without an allocation", key)
	}
	return *resp.Allocation, nil
}

// List returns every live allocation.
func (c *Client) List(ctx context.Context) ([]Allocation, error) {
	resp, err := c.call(ctx, Request{Op: OpList})
	if err != nil {
		return nil, err
	}
	return resp.Allocations, nil
}

// Status returns the pool's state and readiness.
func (c *Client) Status(ctx context.Context) (Status, error) {
	resp, err := c.call(ctx, Request{Op: OpStatus})
	if err != nil {
		return Status{}, err
	}
	if resp.Status == nil {
		return Status{}, fmt.Errorf("status: agent answered without a status")
	}
	return *resp.Status, nil
}

// call sends one request on a fresh connection. Transport failures come back
// wrapped (errors.Is(err, syscall.ECONNREFUSED) and friends work); API
// failures come back as *Error.
func (c *Client) call(ctx context.Context, req Request) (*Response, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Path)
	if err != nil {
		return nil, fmt.Errorf("connecting to eksnet-agent at %s: %w", c.Path, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return nil, fmt.Errorf("setting deadline on %s: %w", c.Path, err)
		}
	}
	// The agent may answer before reading (a refused peer gets its refusal
	// and the connection closed), so a failed write is only final when no
	// answer can be read either.
	sendErr := json.NewEncoder(conn).Encode(req)
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		if sendErr != nil {
			return nil, fmt.Errorf("sending %s to eksnet-agent: %w", req.Op, sendErr)
		}
		return nil, fmt.Errorf("reading eksnet-agent's answer to %s: %w", req.Op, err)
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	return &resp, nil
}
