// Package maxpods computes the kubelet maxPods value for an EKS node from its
// EC2 instance type and the pod networking mode, so that a node never
// advertises more pod slots than its ENIs can give addresses to.
//
// The limits come from an embedded fact table (instance-types.tsv, one row per
// EC2 instance type: vCPUs, ENIs and IPv4 addresses per ENI on the default
// network card, hypervisor, bare metal). The rules, applied in this order:
//
//   - max-ENI override: enis = min(MaxENI, table ENIs) when MaxENI > 0;
//   - custom networking: pods live on other subnets, so the primary ENI hosts
//     none and enis-1 ENIs enter the formula;
//   - secondary-IP mode: podENIs * (ipsPerENI - 1) + host-network pods;
//   - prefix delegation (nitro or bare metal only; asking it of a Xen type is an
//     error, never a silent fallback): podENIs * ((ipsPerENI - 1) * 16) + host-network pods,
//     each secondary slot holding a /28 prefix of 16 addresses;
//   - cap: 110 when the type has <= 30 vCPUs or its vCPU count is unknown,
//     else 250 (the kubelet scalability guidance), unless Options.Uncapped;
//   - multi-card types count the default network card only, as the table does;
//   - a node group of several instance types takes the minimum;
//   - kube-reserved memory that matches the result: 11 * maxPods + 255 MiB.
//
// max pods = pod addresses + host-network pods: host-network pods take a
// slot and no ENI address. AWS's published values count 2 (aws-node and
// kube-proxy, AWSVPCCNIHostNetworkPods, the default); agent nodes run
// kube-proxy only (AgentHostNetworkPods = 1). HostNetwork.Pods adds the
// host-network DaemonSets the user declares for a node group, so on an
// agent node max pods = pod addresses + 1 + DaemonSets, the agent hands out
// at most MaxPods - HostNetwork.Pods() pod addresses, and kubelet never
// admits a pod it cannot wire. The kubelet cap applies to the total.
package maxpods
