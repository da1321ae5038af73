// Package rpc is the contract between the short-lived eksnet-cni plugin and the
// long-lived eksnet-agent: one JSON request and one JSON response per
// connection over a unix socket that only root may use.
//
// One request per connection keeps the plugin trivial (dial, write, read,
// exit) and lets the agent treat every connection as an independent unit of
// work; the cost of a unix connect is a few microseconds, far below the cost
// of wiring a pod. The wire format is plain JSON so an operator can talk to
// the agent with socat when debugging.
//
// The package deliberately imports nothing heavier than the standard library
// and x/sys: the plugin links it and must stay small and quick to exec.
package rpc

import (
	"errors"
	"fmt"
	"net/netip"
)

// DefaultSocketPath is where the agent listens unless configured otherwise.
const DefaultSocketPath = "/run/eksnet/agent.sock"

// Op names an operation of the API.
type Op string

// The operations the agent serves.
const (
	OpAllocate Op = "allocate" // give the key an address (the same one again if it has one)
	OpRelease  Op = "release"  // return the key's address to the pool (idempotent)
	OpCheck    Op = "check"    // report the key's allocation, NotFound if none
	OpList     Op = "list"     // every live allocation (CNI GC compares it with the runtime's list)
	OpStatus   Op = "status"   // pool state and readiness (CNI STATUS, eksnet-agent status)
)

// Key identifies one pod attachment, as CNI does: the network name, the
// container ID and the interface name inside the container.
type Key struct {
	Network     string `json:"network"`
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifName"`
}

// Validate reports a missing field by name.
func (k Key) Validate() error {
	switch {
	case k.Network == "":
		return &Error{Code: CodeInvalidRequest, Message: "key: network is empty"}
	case k.ContainerID == "":
		return &Error{Code: CodeInvalidRequest, Message: "key: containerID is empty"}
	case k.IfName == "":
		return &Error{Code: CodeInvalidRequest, Message: "key: ifName is empty"}
	}
	return nil
}

// String renders the key the way logs and errors show it.
func (k Key) String() string {
	return k.Network + "/" + k.ContainerID + "/" + k.IfName
}

// AllocateRequest asks for an address for a pod attachment. The pod fields
// are informational (they end up in the checkpoint and in status output) and
// let the agent rebuild its state from the kernel after a torn checkpoint.
type AllocateRequest struct {
	Key          Key    `json:"key"`
	Netns        string `json:"netns,omitempty"`
	PodNamespace string `json:"podNamespace,omitempty"`
	PodName      string `json:"podName,omitempty"`
}

// Allocation is an address handed to a pod attachment and everything the
// plugin needs to wire it.
type Allocation struct {
	Key Key `json:"key"`
	// Address is the pod's IPv4 address; the pod gets it as a /32.
	Address netip.Addr `json:"address"`
	// ENIID and DeviceNumber name the ENI the address belongs to.
	ENIID        string `json:"eniID"`
	DeviceNumber int    `json:"deviceNumber"`
	// RouteTable is the table the from rule of the address's unit points
	// at: the ENI's own table for secondary ENIs, 254 (main) for the primary.
	RouteTable int `json:"routeTable"`
	// Unit is the pool unit holding Address (its /28 prefix in prefix mode,
	// Address/32 in secondary mode); the agent owns the unit's policy rules.
	Unit netip.Prefix `json:"unit,omitzero"`
	// VPCCIDRs are the VPC's IPv4 CIDR blocks.
	VPCCIDRs []netip.Prefix `json:"vpcCIDRs,omitempty"`
	// MTU is the MTU the pod's interfaces should use.
	MTU int `json:"mtu,omitempty"`

	Netns        string `json:"netns,omitempty"`
	PodNamespace string `json:"podNamespace,omitempty"`
	PodName      string `json:"podName,omitempty"`
}

// ENIStatus is one ENI's share of the pool.
type ENIStatus struct {
	ID           string `json:"id"`
	DeviceNumber int    `json:"deviceNumber"`
	Primary      bool   `json:"primary"`
	// Prefixes are the /28s assigned to the ENI (prefix mode).
	Prefixes []netip.Prefix `json:"prefixes,omitempty"`
	Total    int            `json:"total"`
	Assigned int            `json:"assigned"`
	Cooldown int            `json:"cooldown"`
	// Pending addresses are assigned in EC2 and wait for IMDS to list them.
	Pending int `json:"pending"`
}

// Status is the agent's pool and readiness as the plugin and operators see it.
type Status struct {
	// Ready is true once the agent serves and its pool holds addresses; a
	// warm pool empty for a moment (a burst, addresses cooling down) is not a
	// node failure and keeps Ready (Reason says so).
	Ready bool `json:"ready"`
	// Version is the running agent's build version (`eksnet-agent
	// version`), so an upgrade in place can be seen to have taken.
	Version string `json:"version,omitempty"`
	// Reason says why the agent is not ready.
	Reason   string `json:"reason,omitempty"`
	Mode     string `json:"mode"`
	MaxPods  int    `json:"maxPods"`
	Capacity int    `json:"capacity"` // addresses the node may hand to pods (max pods - host-network pods)
	Total    int    `json:"total"`
	Assigned int    `json:"assigned"`
	Cooldown int    `json:"cooldown"`
	// Pending addresses are assigned in EC2 and not handed out until IMDS
	// lists them (seconds after EC2 answered, in AWS).
	Pending    int         `json:"pending"`
	Free       int         `json:"free"`
	ENIs       []ENIStatus `json:"enis,omitempty"`
	LastErrors []string    `json:"lastErrors,omitempty"`
	// NetworkCard is the network card whose ENIs the agent uses: always
	// 0. NetworkCards is how many the instance type has; ENIs on the
	// others are neither attached nor used for pods.
	NetworkCard  int `json:"networkCard"`
	NetworkCards int `json:"networkCards"`
	// AttachWaitingFor is the marker file (--attach-after) the agent waits
	// for before it attaches an ENI; empty when it is not waiting.
	AttachWaitingFor string `json:"attachWaitingFor,omitempty"`
}

// VethRef names a host veth the plugin has already cut off (no route, no
// rule, link down) and asks the agent to delete in the background, so DEL
// does not wait for the kernel's slow veth deletion. The index, not the name,
// identifies it: a new sandbox of the same pod reuses the name.
type VethRef struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
}

// Validate reports a field that cannot name a veth.
func (v VethRef) Validate() error {
	if v.Name == "" || len(v.Name) > 15 || v.Index <= 0 {
		return Errorf(CodeInvalidRequest, "veth: name %q (1 to 15 characters) and index %d (positive) do not name an interface", v.Name, v.Index)
	}
	return nil
}

// Request is what goes on the wire towards the agent.
type Request struct {
	Op       Op               `json:"op"`
	Key      *Key             `json:"key,omitempty"`
	Allocate *AllocateRequest `json:"allocate,omitempty"`
	// Veth, on release only, is a veth for the agent to delete later.
	Veth *VethRef `json:"veth,omitempty"`
}

// Response is what comes back. Exactly one of the first four fields is set
// (none for a release of a key without allocation).
type Response struct {
	Error       *Error       `json:"error,omitempty"`
	Allocation  *Allocation  `json:"allocation,omitempty"`
	Allocations []Allocation `json:"allocations,omitempty"`
	Status      *Status      `json:"status,omitempty"`
	// VethQueued says the agent took the release's veth and will delete
	// it; false (an older agent, a full queue) leaves it to the plugin.
	VethQueued bool `json:"vethQueued,omitempty"`
}

// Code classifies an error so the plugin can map it to a CNI error code.
type Code string

// Error codes of the API.
const (
	// CodeNoAddresses: the node is full or the warm pool is empty right now.
	CodeNoAddresses Code = "NoAddresses"
	// CodeNotFound: the key has no allocation.
	CodeNotFound Code = "NotFound"
	// CodeInvalidRequest: the request is malformed.
	CodeInvalidRequest Code = "InvalidRequest"
	// CodeNotReady: the agent is starting and does not serve allocations yet.
	CodeNotReady Code = "NotReady"
	// CodeInternal: anything else.
	CodeInternal Code = "Internal"
)

// Error is an API error as it crosses the socket.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Is lets errors.Is(err, &rpc.Error{Code: rpc.CodeNotFound}) match on the code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf builds an API error with a code.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the API code of err, or "" when err is not an API error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
