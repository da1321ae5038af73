// Command eksnet-cni is the CNI plugin the container runtime execs for every
// pod sandbox. It asks eksnet-agent (over its root-only unix socket) for a
// VPC address and wires the pod with the datapath package; everything slow or
// stateful (EC2, the warm pool, the checkpoint) stays in the agent, so the
// plugin links no AWS SDK and starts in milliseconds.
//
// Commands: ADD, DEL, CHECK, VERSION, GC and STATUS, for CNI spec versions
// 0.4.0, 1.0.0 and 1.1.0 (GC and STATUS need 1.1.0).
package main

import (
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/eksnet/eksnet/cni-agent/cniconf"
)

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add:    cmdAdd,
		Del:    cmdDel,
		Check:  cmdCheck,
		GC:     cmdGC,
		Status: cmdStatus,
	}, version.PluginSupports(cniconf.SupportedVersions...), "eksnet-cni: pod networking on VPC addresses served by eksnet-agent")
}
