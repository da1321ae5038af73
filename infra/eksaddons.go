package infra

import (
	"fmt"

	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-eks/sdk/v3/go/eks"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	storagev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/storage/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/eksnet/eksnet/stacks"
)

// How every EKS add-on the stack manages resolves conflicts with what is
// already in the cluster. On create, OVERWRITE adopts the self-managed
// copy EKS bootstraps into every new cluster (there are no user changes
// yet). On update, PRESERVE keeps fields a user changed by hand (the
// CoreDNS Corefile, kube-proxy's mode): pulumi-eks's default of OVERWRITE
// would silently reset them at the next version move.
const (
	AddonResolveOnCreate = "OVERWRITE"
	AddonResolveOnUpdate = "PRESERVE"
)

// addonVersions resolves the versions of cfg's EKS add-ons (validated
// before the program runs, so an error here is a bug).
func addonVersions(cfg stacks.Config) (map[string]stacks.AddonVersion, error) {
	out := map[string]stacks.AddonVersion{}
	for _, a := range cfg.EKSAddons() {
		av, err := cfg.AddonVersion(a)
		if err != nil {
			return nil, err
		}
		out[a] = av
	}
	return out, nil
}

// pulumiEKSConflicts is the stack's conflict resolution in pulumi-eks's types.
func pulumiEKSConflicts() (*eks.ResolveConflictsOnCreate, *eks.ResolveConflictsOnUpdate) {
	create, update := eks.ResolveConflictsOnCreate(AddonResolveOnCreate), eks.ResolveConflictsOnUpdate(AddonResolveOnUpdate)
	return &create, &update
}

// kubeProxyOptions pins pulumi-eks's kube-proxy add-on, which it creates
// inside the cluster component (a DaemonSet, ACTIVE without nodes, so
// before the node groups is right). Left alone, pulumi-eks asks AWS for
// the most recent version at every update and overwrites on conflict.
func kubeProxyOptions(version string) *eks.KubeProxyAddonOptionsArgs {
	create, update := pulumiEKSConflicts()
	return &eks.KubeProxyAddonOptionsArgs{
		Version:                  pulumi.String(version),
		ResolveConflictsOnCreate: create,
		ResolveConflictsOnUpdate: update,
	}
}

// corednsOptions turns pulumi-eks's CoreDNS add-on off explicitly: it
// would create it inside the cluster component, before any node group,
// and CoreDNS pods need nodes for the add-on to become ACTIVE (the create
// waits, then fails). The stack creates its own after the node groups.
func corednsOptions() *eks.CoreDnsAddonOptionsArgs {
	off := false
	return &eks.CoreDnsAddonOptionsArgs{Enabled: &off}
}

// newEKSAddon creates one EKS add-on at its pinned version with the
// stack's conflict resolution.
func newEKSAddon(ctx *pulumi.Context, name string, cfg stacks.Config, cluster *Cluster, av stacks.AddonVersion, extra *awseks.AddonArgs, opts ...pulumi.ResourceOption) (*awseks.Addon, error) {
	a := &awseks.AddonArgs{}
	if extra != nil {
		*a = *extra
	}
	a.ClusterName = cluster.Name
	a.AddonName = pulumi.String(av.Addon)
	if av.Version != "" {
		// Without one (stacks.AddonSourceEKSDefault) EKS installs its
		// default at creation, and no later update moves it.
		a.AddonVersion = pulumi.String(av.Version)
	}
	a.ResolveConflictsOnCreate = pulumi.String(AddonResolveOnCreate)
	a.ResolveConflictsOnUpdate = pulumi.String(AddonResolveOnUpdate)
	a.Tags = pulumi.StringMap{"eksnet.io/stack": pulumi.String(cfg.Env)}
	addon, err := awseks.NewAddon(ctx, name, a, opts...)
	if err != nil {
		return nil, fmt.Errorf("eks add-on %s %s: %w", av.Addon, av.Version, err)
	}
	return addon, nil
}

// The EBS CSI driver's controller service account (the add-on creates it)
// and the StorageClass the stack makes the cluster default.
const (
	EBSCSINamespace      = "kube-system"
	EBSCSIServiceAccount = "ebs-csi-controller-sa"
	EBSCSIProvisioner    = "ebs.csi.aws.com"
	DefaultStorageClass  = "gp3"
	// AnnotationDefaultClass marks a StorageClass as the cluster default.
	AnnotationDefaultClass = "storageclass.kubernetes.io/is-default-class"
)

// EBSCSIPolicyARN is AWS's managed policy for the EBS CSI driver, the one
// the EKS User Guide attaches to the driver's role: AWS keeps it in step
// with what the driver calls.
func EBSCSIPolicyARN(partition string) string {
	return "arn:" + partition + ":iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

// PodIdentityTrust is the trust policy of a role given to pods through an
// EKS Pod Identity association: the pods.eks.amazonaws.com service
// assumes it and tags the session with the pod's cluster, namespace and
// service account.
func PodIdentityTrust() PolicyDocument {
	return PolicyDocument{Version: "2012-10-17", Statement: []Statement{{
		Effect: "Allow", Principal: map[string]string{"Service": "pods.eks.amazonaws.com"},
		Action: []string{"sts:AssumeRole", "sts:TagSession"},
	}}}
}

// eksAddons creates the EKS add-ons the stack owns outside pulumi-eks, each
// after the node groups (their pods need nodes for the add-on to become
// ACTIVE): CoreDNS, and as configured the Pod Identity agent, the EBS CSI
// driver with its role and the default gp3 StorageClass, and metrics-server.
func (a *Addons) eksAddons(ctx *pulumi.Context, name string, cfg stacks.Config, args AddonsArgs, parent, k8s pulumi.ResourceOption) error {
	versions, err := addonVersions(cfg)
	if err != nil {
		return err
	}
	after := pulumi.DependsOn(args.NodeGroups)
	add := func(addon, suffix string, extra *awseks.AddonArgs, opts ...pulumi.ResourceOption) error {
		r, err := newEKSAddon(ctx, name+"-"+suffix, cfg, args.Cluster, versions[addon], extra, append([]pulumi.ResourceOption{parent, after}, opts...)...)
		if err != nil {
			return err
		}
		a.EKSAddons[addon] = r
		return nil
	}
	if err := add(stacks.AddonCoreDNS, "coredns", nil); err != nil {
		return err
	}
	if cfg.Addons.PodIdentity {
		if err := add(stacks.AddonPodIdentity, "pod-identity", nil); err != nil {
			return err
		}
	}
	if cfg.Addons.EBSCSIDriver {
		if err := a.ebsCSIDriver(ctx, name, cfg, args, add, parent, k8s); err != nil {
			return err
		}
	}
	if cfg.Addons.MetricsServer {
		if err := add(stacks.AddonMetricsServer, "metrics-server", nil); err != nil {
			return err
		}
	}
	return nil
}

// ebsCSIDriver creates the driver's role (Pod Identity association with
// the agent, else IRSA through the cluster's OIDC provider) with AWS's
// managed policy, the add-on, and the gp3 StorageClass as the default.
func (a *Addons) ebsCSIDriver(ctx *pulumi.Context, name string, cfg stacks.Config, args AddonsArgs,
	add func(addon, suffix string, extra *awseks.AddonArgs, opts ...pulumi.ResourceOption) error, parent, k8s pulumi.ResourceOption) error {
	var trust pulumi.StringInput = pulumi.String(PodIdentityTrust().JSON())
	if !cfg.Addons.PodIdentity {
		trust = args.Cluster.IRSATrust(EBSCSINamespace, EBSCSIServiceAccount)
	}
	var err error
	a.EBSCSIRole, err = iam.NewRole(ctx, name+"-ebs-csi", &iam.RoleArgs{
		AssumeRolePolicy: trust,
		Description:      pulumi.String("Amazon EBS CSI driver of " + cfg.ClusterName),
	}, parent)
	if err != nil {
		return fmt.Errorf("ebs csi driver role: %w", err)
	}
	attach, err := iam.NewRolePolicyAttachment(ctx, name+"-ebs-csi", &iam.RolePolicyAttachmentArgs{
		Role: a.EBSCSIRole.Name, PolicyArn: pulumi.String(EBSCSIPolicyARN(Partition(cfg.Region))),
	}, parent)
	if err != nil {
		return fmt.Errorf("ebs csi driver policy attachment: %w", err)
	}
	extra := &awseks.AddonArgs{}
	deps := []pulumi.Resource{attach}
	if cfg.Addons.PodIdentity {
		extra.PodIdentityAssociations = awseks.AddonPodIdentityAssociationArray{awseks.AddonPodIdentityAssociationArgs{
			RoleArn: a.EBSCSIRole.Arn, ServiceAccount: pulumi.String(EBSCSIServiceAccount),
		}}
		deps = append(deps, a.EKSAddons[stacks.AddonPodIdentity]) // the agent serves the credentials
	} else {
		extra.ServiceAccountRoleArn = a.EBSCSIRole.Arn
	}
	if err := add(stacks.AddonEBSCSI, "ebs-csi", extra, pulumi.DependsOn(deps)); err != nil {
		return err
	}
	// gp3 (cheaper and faster than gp2 at every size), encrypted, bound
	// where the pod lands so the volume is in its AZ. EKS marks no class
	// default on the Kubernetes versions the stack supports (from 1.30 its
	// gp2 class carries no default annotation), so this one is.
	a.StorageClass, err = storagev1.NewStorageClass(ctx, name+"-gp3", &storagev1.StorageClassArgs{
		Metadata: metav1.ObjectMetaArgs{
			Name:        pulumi.String(DefaultStorageClass),
			Annotations: pulumi.StringMap{AnnotationDefaultClass: pulumi.String("true")},
		},
		Provisioner:          pulumi.String(EBSCSIProvisioner),
		Parameters:           pulumi.StringMap{"type": pulumi.String("gp3"), "encrypted": pulumi.String("true")},
		VolumeBindingMode:    pulumi.String("WaitForFirstConsumer"),
		AllowVolumeExpansion: pulumi.Bool(true),
		ReclaimPolicy:        pulumi.String("Delete"),
	}, parent, k8s, pulumi.DependsOn([]pulumi.Resource{a.EKSAddons[stacks.AddonEBSCSI]}))
	if err != nil {
		return fmt.Errorf("gp3 storage class: %w", err)
	}
	return nil
}
