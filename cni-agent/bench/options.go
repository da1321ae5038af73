package main

import (
	"fmt"
	"strconv"

	"github.com/eksnet/eksnet/bootstrap/maxpods"
)

// Options are the benchmark's knobs.
type Options struct {
	Pods         int
	Parallel     int
	InstanceType string
	Peer         bool
	PeerVersion  string
	PeerBinDir   string
	Fill         bool
	Verbose      bool
	// Samples, when set, is a file for every ADD and DEL latency.
	Samples string
}

// defaultOptions is the setup: 250 pods, 8 at a time, on an m5.large
// in prefix mode. An m5.large holds 434 pods in prefix mode before the
// kubelet cap (110 at <= 30 vCPUs), so the benchmark raises max pods to 253
// (250 pod addresses plus the 2 host-network pods) and one more for the RSS
// probe's pod (see pluginPeakRSS), as --max-pods does on a
// real node; no instance type's default allows 250 pod addresses, since the
// 250-pod kubelet cap includes the 2 host-network pods.
func defaultOptions() Options {
	return Options{Pods: 250, Parallel: 8, InstanceType: "m5.large", Peer: true, PeerVersion: "v1.10.0", Fill: true}
}

func (o Options) validate() error {
	if o.Pods < 1 || o.Pods > 250 {
		return fmt.Errorf("-pods %d: accepted: 1 to 250", o.Pods)
	}
	if o.Parallel < 2 || o.Parallel > 64 {
		return fmt.Errorf("-parallel %d: accepted: 2 to 64", o.Parallel)
	}
	if o.InstanceType == "" {
		return fmt.Errorf("-instance-type: empty; accepted: a Nitro instance type, e.g. m5.large")
	}
	return nil
}

// maxPods is the benchmark node's max pods: every pod, the RSS probe's pod
// and the agent node's host-network pod (kube-proxy).
func (o Options) maxPods() int { return o.Pods + 1 + maxpods.AgentHostNetworkPods }

// agentEnv is the benchmark node's agent settings: prefix mode, max pods
// raised to hold every pod, and a warm pool that keeps all of them free so
// no ADD waits for EC2. Freed addresses cool down for 0s so the parallel run
// can reuse what the serial run freed without EC2 calls in between.
func (o Options) agentEnv() map[string]string {
	return map[string]string{
		"EKSNET_MODE":               "prefix",
		"EKSNET_MAX_PODS":           strconv.Itoa(o.maxPods()),
		"EKSNET_MINIMUM_IP_TARGET":  strconv.Itoa(o.Pods + 1),
		"EKSNET_WARM_PREFIX_TARGET": "1",
		"EKSNET_COOLDOWN":           "0s",
	}
}
