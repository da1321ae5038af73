package main

import (
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/vishvananda/netns"
)

// cmdAdd gets an address from the agent and wires the pod. Any failure after
// the allocation releases it: an ADD either fully succeeds or leaves nothing.
func cmdAdd(args *skel.CmdArgs) error {
	inv, err := parse(args)
	if err != nil {
		return err
	}
	defer inv.closeLog()
	// Refuse a missing namespace before taking an address.
	h, err := netns.GetFromPath(args.Netns)
	if err != nil {
		return types.NewError(types.ErrInvalidNetNS, fmt.Sprintf("CNI_NETNS %s: cannot open the pod's network namespace", args.Netns), err.Error())
	}
	h.Close()
	ctx, cancel := inv.context()
	defer cancel()

	alloc, err := inv.client.Allocate(ctx, rpc.AllocateRequest{
		Key: inv.key(), Netns: args.Netns, PodNamespace: inv.podNamespace, PodName: inv.podName,
	})
	if err != nil {
		inv.log.Warn("allocate failed", "err", err)
		return agentError("allocating a pod address", inv, err)
	}
	mtu := inv.conf.MTU
	if mtu == 0 {
		mtu = alloc.MTU
	}
	pod := datapath.Pod{
		Netns: args.Netns, IfName: args.IfName, HostVeth: inv.hostVeth(),
		Address: alloc.Address, RouteTable: alloc.RouteTable, MTU: mtu,
	}
	wired, err := datapath.Setup(pod)
	if err != nil {
		inv.log.Warn("wiring failed; releasing the address", "address", alloc.Address, "err", err)
		if _, rerr := inv.client.Release(ctx, inv.key()); rerr != nil {
			err = errors.Join(err, fmt.Errorf("releasing %s after the failure: %w", alloc.Address, rerr))
		}
		code := types.ErrInternal
		if errors.Is(err, datapath.ErrNetnsGone) {
			code = types.ErrInvalidNetNS
		}
		return types.NewError(code, fmt.Sprintf("wiring pod address %s into %s: %v", alloc.Address, args.Netns, err), "")
	}
	inv.log.Info("pod wired", "address", alloc.Address, "veth", pod.HostVeth, "eni", alloc.ENIID, "table", alloc.RouteTable)

	podIdx := 1
	result := &types100.Result{
		CNIVersion: types100.ImplementedSpecVersion,
		Interfaces: []*types100.Interface{
			{Name: pod.HostVeth, Mac: wired.HostMAC.String()},
			{Name: args.IfName, Mac: wired.PodMAC.String(), Sandbox: args.Netns},
		},
		IPs: []*types100.IPConfig{{
			Interface: &podIdx,
			Address:   net.IPNet{IP: alloc.Address.AsSlice(), Mask: net.CIDRMask(32, 32)},
			Gateway:   datapath.Gateway.AsSlice(),
		}},
		Routes: []*types.Route{{Dst: net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, GW: datapath.Gateway.AsSlice()}},
	}
	return types.PrintResult(result, inv.conf.CNIVersion)
}
