package main

import (
	"context"
	"fmt"
	"time"

	"github.com/eksnet/eksnet/bootstrap/maxpods"
	"github.com/eksnet/eksnet/sim/simcluster"
)

// fillResult is how many EC2 calls it took a fresh t3.medium in prefix mode,
// default warm targets, to go from boot to every pod slot wired.
type fillResult struct {
	Pods    int
	MaxPods int
	Calls   simcluster.EC2Calls
	Retries int
}

// fillPods is a t3.medium's pod addresses in prefix mode: 110 max pods
// (the kubelet cap at <= 30 vCPUs) minus kube-proxy, the one host-network
// pod of an agent node.
const fillPods = 110 - maxpods.AgentHostNetworkPods

// fill boots a t3.medium in prefix mode with the default warm targets and
// wires pods one after another, retrying "try again later" as kubelet does,
// until it holds fillPods (its 110 max pods but kube-proxy); it counts every
// EC2 call from the agent's start.
// The benchmark node's agent is stopped by then, so the count is this node's.
func fill(ctx context.Context, c *simcluster.Cluster) (fillResult, error) {
	node, err := c.AddNode(ctx, simcluster.NodeSpec{Name: "fill", InstanceType: "t3.medium", Env: map[string]string{"EKSNET_MODE": "prefix"}})
	if err != nil {
		return fillResult{}, err
	}
	before := simcluster.EC2CallsOf(c.VPC().Calls())
	if err := node.Start(ctx); err != nil {
		return fillResult{}, err
	}
	defer node.Stop(context.WithoutCancel(ctx))
	if err := node.WaitReady(ctx); err != nil {
		return fillResult{}, err
	}
	res := fillResult{MaxPods: fillPods + maxpods.AgentHostNetworkPods}
	for i := range fillPods {
		p, err := node.NewPod(fmt.Sprintf("fill%d", i))
		if err != nil {
			return res, err
		}
		r, err := node.AddRetrying(ctx, p, 2*time.Minute)
		if err != nil {
			return res, fmt.Errorf("filling the t3.medium, pod %d: %w", i, err)
		}
		res.Pods++
		res.Retries += r.Tries - 1
	}
	res.Calls = simcluster.EC2CallsOf(c.VPC().Calls()).Since(before)
	return res, nil
}
