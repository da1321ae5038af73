package main

import (
	"errors"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// cmdCheck verifies that the agent still holds the pod's allocation, that it
// is the address the runtime recorded, and that every kernel object ADD made
// is there and nothing else claims the pod's address.
func cmdCheck(args *skel.CmdArgs) error {
	inv, err := parse(args)
	if err != nil {
		return err
	}
	defer inv.closeLog()
	prevAddr, prevVeth, ok := inv.fromPrevResult()
	if !ok {
		return types.NewError(types.ErrInvalidNetworkConfig, "CHECK: prevResult with the pod's IPv4 address is required", "")
	}
	ctx, cancel := inv.context()
	defer cancel()
	alloc, err := inv.client.Check(ctx, inv.key())
	if err != nil {
		return agentError("checking the pod's allocation", inv, err)
	}
	if alloc.Address != prevAddr {
		return types.NewError(types.ErrInternal,
			fmt.Sprintf("CHECK: eksnet-agent holds %s for %s but the runtime recorded %s", alloc.Address, inv.key(), prevAddr), "")
	}
	mtu := inv.conf.MTU
	if mtu == 0 {
		mtu = alloc.MTU
	}
	pod := datapath.Pod{Netns: args.Netns, IfName: args.IfName, HostVeth: inv.hostVeth(), Address: alloc.Address,
		RouteTable: alloc.RouteTable, Unit: alloc.Unit, MTU: mtu}
	if prevVeth != "" {
		pod.HostVeth = prevVeth
	}
	if err := datapath.Verify(pod); err != nil {
		code := types.ErrInternal
		if errors.Is(err, datapath.ErrNetnsGone) {
			code = types.ErrInvalidNetNS
		}
		return types.NewError(code, "CHECK: "+err.Error(), "")
	}
	return nil
}

// cmdGC releases every allocation of this network whose attachment the
// runtime no longer lists, and unwires what is left of it on the host.
func cmdGC(args *skel.CmdArgs) error {
	inv, err := parse(args)
	if err != nil {
		return err
	}
	defer inv.closeLog()
	ctx, cancel := inv.context()
	defer cancel()
	valid := map[rpc.Key]bool{}
	for _, a := range inv.conf.ValidAttachments {
		valid[rpc.Key{Network: inv.conf.Name, ContainerID: a.ContainerID, IfName: a.IfName}] = true
	}
	allocs, err := inv.client.List(ctx)
	if err != nil {
		return agentError("listing allocations for GC", inv, err)
	}
	var errs []error
	released := 0
	for _, a := range allocs {
		if a.Key.Network != inv.conf.Name || valid[a.Key] {
			continue
		}
		pod := datapath.Pod{
			Netns: a.Netns, IfName: a.Key.IfName, Address: a.Address,
			HostVeth: datapath.HostVethName(inv.conf.VethPrefix, a.PodNamespace, a.PodName, a.Key.ContainerID),
		}
		if err := datapath.Teardown(pod); err != nil {
			errs = append(errs, fmt.Errorf("unwiring stale attachment %s (%s): %w", a.Key, a.Address, err))
			continue
		}
		if _, err := inv.client.Release(ctx, a.Key); err != nil {
			errs = append(errs, fmt.Errorf("releasing stale attachment %s (%s): %w", a.Key, a.Address, err))
			continue
		}
		released++
		inv.log.Info("gc released a stale attachment", "key", a.Key.String(), "address", a.Address)
	}
	if err := errors.Join(errs...); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("GC released %d stale attachments but failed on others", released), err.Error())
	}
	return nil
}

// cmdStatus says whether ADD can succeed now: the agent answers and has at
// least one address to give.
func cmdStatus(args *skel.CmdArgs) error {
	inv, err := parse(args)
	if err != nil {
		return err
	}
	defer inv.closeLog()
	ctx, cancel := inv.context()
	defer cancel()
	st, err := inv.client.Status(ctx)
	if err != nil {
		if agentUnreachable(err) {
			return types.NewError(errPluginNotAvailable, fmt.Sprintf("eksnet-agent is not reachable at %s", inv.conf.SocketPath), err.Error())
		}
		return types.NewError(errPluginNotAvailable, "eksnet-agent status failed", err.Error())
	}
	if !st.Ready {
		reason := st.Reason
		if reason == "" {
			reason = fmt.Sprintf("%d of %d addresses free", st.Free, st.Total)
		}
		return types.NewError(errPluginNotAvailable, "eksnet-agent is not ready: "+reason, "")
	}
	return nil
}
