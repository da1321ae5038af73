// Package userdata renders EC2 user data that joins a node to an EKS cluster
// with the max pods eksnet computed, because the AMI's own guess (its
// secondary-IP table) is wrong under prefix delegation, custom networking or
// a max-ENI override, and a node that advertises more pods than it has
// addresses leaves pods stuck in ContainerCreating.
//
// Formats, one per node OS:
//   - AL2023: MIME multipart with a nodeadm NodeConfig part
//     (application/node.eks.aws): cluster name, endpoint, CA, service CIDR,
//     kubelet maxPods and kube-reserved memory. nodeadm needs no
//     DescribeCluster call with these.
//   - AL2: MIME multipart with a shell part calling /etc/eks/bootstrap.sh
//     --use-max-pods false --kubelet-extra-args '--max-pods=N'. bootstrap.sh
//     still sizes kube-reserved memory from its own table; AL2 is kept for
//     existing node groups, AL2023 is the default.
//   - Bottlerocket: settings TOML (not MIME: Bottlerocket reads only TOML),
//     with an integer max-pods and kube-reserved memory.
//
// In agent mode (CNI "agent") AL2023 and AL2 get one more shell part, run by
// cloud-init before kubelet starts: it downloads the node bundle for the
// node's architecture (uname -m x86_64 -> amd64, aarch64 -> arm64; see
// bootstrap/bundle) from an https or s3 URL, refuses it unless its SHA-256
// matches, unpacks eksnet-agent and eksnet-cni side by side into
// /usr/local/bin (the agent's install step copies the plugin from there), writes
// /etc/eksnet/agent.env (KEY=VALUE: EKSNET_CLUSTER, EKSNET_MODE, EKSNET_MAX_PODS,
// warm-pool targets, EKSNET_MAX_ENI, EKSNET_EXTERNAL_SNAT,
// EKSNET_SNAT_EXCLUDE_CIDRS) and the eksnet-agent.service unit (install, then
// run; Before=kubelet.service, plus a kubelet drop-in that wants it) and
// starts it. Bottlerocket runs no user-data scripts, so agent mode there is a
// validation error rather than a node that silently has no CNI.
//
// Output is deterministic (fixed MIME boundary, sorted architectures) so a
// launch template only changes when the inputs do.
package userdata
