// Package infra is the eksnet Pulumi program: the components that build an
// EKS environment from a resolved stacks.Config.
//
//   - Network: VPC, public/private (and pod) subnets from infra/cidrplan,
//     internet gateway, NAT none | single | per-az, route tables, load
//     balancer and cluster subnet tags, prefix CIDR reservations.
//   - Cluster: the pulumi-eks Cluster (no default node group), endpoint
//     access, control-plane logs, OIDC provider, KMS secrets encryption, and
//     the VPC CNI add-on configuration (VpcCniOptions).
//   - AgentBundle: the S3 bucket with the node bundles (eksnet-agent and
//     eksnet-cni per arch) and their SHA-256s (agent mode).
//   - NodeGroup: launch template (AMI from the public SSM parameter, IMDSv2
//     required with hop limit 1, user data with the computed max pods) and
//     an EKS managed node group.
//   - Addons: AWS Load Balancer Controller (IRSA + Helm), namespaces with a
//     default LimitRange, the optional 2048 demo behind an ALB Ingress.
//
// Every component embeds pulumi.ResourceState, registers itself first,
// parents its children and registers its outputs. Constructors return
// structs holding their children so pulumi.WithMocks tests can assert on
// inputs. Ordering: node groups depend on the cluster component (whose
// VPC CNI add-on configuration is part of it) and on the agent bucket
// objects, and their user data waits on the cluster's kubeconfig, so the
// CNI configuration exists before any node boots.
//
// Keeping aws-node off agent nodes: every node carries the label
// eksnet.io/cni=<mode>, registered by kubelet itself from the user data
// (kubelet --node-labels) and repeated on the managed node group, and in agent mode the vpc-cni add-on is configured
// (through VpcCniOptions.ConfigurationValues) with a required node affinity
// eksnet.io/cni In [aws-vpc-cni]. Positive selection matters: managed node
// groups with a custom AMI get their labels from EKS after the node
// registers, and a NotIn [agent] rule would let aws-node schedule in that
// window. The add-on stays installed and EKS-managed for any node labelled
// for the AWS VPC CNI; removing it outright would make mixed clusters
// impossible.
package infra
