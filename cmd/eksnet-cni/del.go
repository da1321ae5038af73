package main

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/eksnet/eksnet/cni-agent/datapath"
	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// cmdDel unwires the pod, then releases its address. It is idempotent: a
// missing namespace, veth or allocation is success. When the agent is
// unreachable it still unwires from the runtime's cached result (or what
// the pod's interface holds) and succeeds; the agent's allocation is then
// reclaimed by the next CNI GC, which lists the attachments still valid.
//
// With the agent up, the host veth pair outlives DEL by a few milliseconds:
// DEL deletes the route and sets the veth down, and the agent
// deletes the pair in the background (docs/cni.md says why). With the agent
// down, or when it does not take the veth, DEL deletes it before returning.
func cmdDel(args *skel.CmdArgs) error {
	inv, err := parse(args)
	if err != nil {
		return err
	}
	defer inv.closeLog()
	ctx, cancel := inv.context()
	defer cancel()

	pod := datapath.Pod{Netns: args.Netns, IfName: args.IfName, HostVeth: inv.hostVeth()}
	prevAddr, prevVeth, havePrev := inv.fromPrevResult()
	if havePrev {
		pod.Address = prevAddr
		if prevVeth != "" {
			pod.HostVeth = prevVeth
		}
	}
	// The runtime's cached result says what ADD wired, so the agent is
	// asked only without one; an agent that is down then shows at Release.
	agentDown := false
	if !havePrev {
		alloc, err := inv.client.Check(ctx, inv.key())
		agentDown = agentUnreachable(err)
		switch {
		case err == nil:
			pod.Address = alloc.Address
			if inv.podName == "" && alloc.PodName != "" {
				pod.HostVeth = datapath.HostVethName(inv.conf.VethPrefix, alloc.PodNamespace, alloc.PodName, args.ContainerID)
			}
		case agentDown || rpc.CodeOf(err) == rpc.CodeNotFound:
			pod.Address = addressInPod(args.Netns, args.IfName)
		default:
			return agentError("looking up the pod's allocation", inv, err)
		}
	}
	if agentDown {
		if err := datapath.Teardown(pod); err != nil {
			return types.NewError(types.ErrInternal, fmt.Sprintf("unwiring pod %s: %v", pod.Address, err), "")
		}
		inv.log.Warn("agent unreachable: unwired from the cached result; the address is reclaimed by GC", "address", pod.Address)
		return nil
	}
	// Cut the pod off (route, link down), release the address, and
	// let the agent delete the veth pair in the background: the deletion
	// waits for the kernel's RCU grace period, most of a DEL otherwise. If
	// the agent does not take it, delete it here, as Teardown would.
	left, err := datapath.Unroute(pod)
	if err != nil {
		if derr := datapath.DeleteHostVeth(left); derr != nil {
			err = errors.Join(err, derr)
		}
		return types.NewError(types.ErrInternal, fmt.Sprintf("unwiring pod %s: %v", pod.Address, err), "")
	}
	queued := false
	if left.Index > 0 {
		_, queued, err = inv.client.ReleaseVeth(ctx, inv.key(), rpc.VethRef{Name: left.Name, Index: left.Index})
	} else {
		_, err = inv.client.Release(ctx, inv.key())
	}
	if !queued {
		if derr := datapath.DeleteHostVeth(left); derr != nil {
			return types.NewError(types.ErrInternal, fmt.Sprintf("unwiring pod %s: %v", pod.Address, derr), "")
		}
	}
	if err != nil {
		if agentUnreachable(err) {
			inv.log.Warn("agent unreachable: unwired from the cached result; the address is reclaimed by GC", "address", pod.Address)
			return nil
		}
		return agentError("releasing the pod address", inv, err)
	}
	inv.log.Info("pod unwired", "address", pod.Address, "veth", pod.HostVeth, "vethDeletedByAgent", queued)
	return nil
}

// addressInPod reads the IPv4 /32 on the pod's interface, the last resort
// when neither the agent nor a cached result says what ADD assigned.
func addressInPod(path, ifName string) netip.Addr {
	if path == "" {
		return netip.Addr{}
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		return netip.Addr{}
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return netip.Addr{}
	}
	defer nh.Close()
	l, err := nh.LinkByName(ifName)
	if err != nil {
		return netip.Addr{}
	}
	addrs, err := nh.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		if ones, _ := a.Mask.Size(); ones == 32 {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
				return ip
			}
		}
	}
	return netip.Addr{}
}
