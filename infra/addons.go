package infra

import (
	"fmt"
	"strings"

	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	storagev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/storage/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/eksnet/eksnet/infra/cidrplan"
	"github.com/eksnet/eksnet/stacks"
)

// Pinned versions of what the add-ons install.
const (
	LBCChart        = "aws-load-balancer-controller"
	LBCChartVersion = "1.14.0" // appVersion LBCAppVersion
	LBCChartRepo    = "https://aws.github.io/eks-charts"
	LBCNamespace    = "kube-system"
	LBCAccount      = "aws-load-balancer-controller"
	DemoNamespace   = "game-2048"
)

// DemoImage is the image the demo Deployment runs: eksnet:addons.demoImage,
// pinned by digest. Unset, a plan or preview shows the bare repository
// (an update refuses, stacks.Config.RequirePinned), never a moving tag.
func DemoImage(cfg stacks.Config) string {
	if cfg.Addons.DemoImage != "" {
		return cfg.Addons.DemoImage
	}
	return stacks.DemoImageRepository
}

// Annotations of the AWS Load Balancer Controller (docs/guide/ingress/annotations.md
// at LBCAppVersion; TestDemoIngressAsControllerDocuments reads them there).
const (
	AnnotationScheme       = "alb.ingress.kubernetes.io/scheme"
	AnnotationTargetType   = "alb.ingress.kubernetes.io/target-type"
	AnnotationInboundCIDRs = "alb.ingress.kubernetes.io/inbound-cidrs"
)

// DefaultLimitRange is the container defaults `default` and every
// namespace the stack creates get, so a pod without requests still schedules predictably.
func DefaultLimitRange() corev1.LimitRangeItemArray {
	return corev1.LimitRangeItemArray{corev1.LimitRangeItemArgs{
		Type:           pulumi.String("Container"),
		DefaultRequest: pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("128Mi")},
		Default:        pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("512Mi")},
	}}
}

// Kubernetes is the provider for in-cluster resources and what must exist
// in the cluster before nodes boot.
type Kubernetes struct {
	pulumi.ResourceState
	Provider *kubernetes.Provider
	// ENIConfigs are the per-AZ custom networking configs (aws-vpc-cni mode
	// with a pod CIDR), named after the zone as ENI_CONFIG_LABEL_DEF expects.
	ENIConfigs []*apiextensions.CustomResource
}

// NewKubernetes creates the provider from the cluster's kubeconfig and,
// under AWS VPC CNI custom networking, the ENIConfigs nodes need at boot.
func NewKubernetes(ctx *pulumi.Context, name string, cfg stacks.Config, cluster *Cluster, network *Network, opts ...pulumi.ResourceOption) (*Kubernetes, error) {
	k := &Kubernetes{}
	if err := ctx.RegisterComponentResource("eksnet:infra:Kubernetes", name, k, opts...); err != nil {
		return nil, fmt.Errorf("register kubernetes %s: %w", name, err)
	}
	var err error
	k.Provider, err = kubernetes.NewProvider(ctx, name, &kubernetes.ProviderArgs{
		Kubeconfig: cluster.EKS.KubeconfigJson, EnableServerSideApply: pulumi.Bool(true),
	}, pulumi.Parent(k))
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}
	if cfg.CNI.Mode == stacks.CNIAWSVPC && cfg.CustomNetworking() {
		for _, sn := range network.Layout.ByRole(cidrplan.Pod) {
			ec, err := apiextensions.NewCustomResource(ctx, name+"-eniconfig-"+sn.AZ, &apiextensions.CustomResourceArgs{
				ApiVersion: pulumi.String("crd.k8s.amazonaws.com/v1alpha1"),
				Kind:       pulumi.String("ENIConfig"),
				Metadata:   metav1.ObjectMetaArgs{Name: pulumi.String(sn.AZ)},
				OtherFields: map[string]any{"spec": pulumi.Map{
					"subnet": network.SubnetID(sn.Name),
					// The nodes' group (EKS's cluster security group, see
					// NewCluster), so pods reach nodes and each other.
					"securityGroups": pulumi.StringArray{cluster.EKS.ClusterSecurityGroupId},
				}},
			}, pulumi.Parent(k), pulumi.Provider(k.Provider))
			if err != nil {
				return nil, fmt.Errorf("eniconfig %s: %w", sn.AZ, err)
			}
			k.ENIConfigs = append(k.ENIConfigs, ec)
		}
	}
	if err := ctx.RegisterResourceOutputs(k, pulumi.Map{}); err != nil {
		return nil, fmt.Errorf("register kubernetes outputs: %w", err)
	}
	return k, nil
}

// Addons are the in-cluster add-ons.
type Addons struct {
	pulumi.ResourceState
	Namespaces  map[string]*corev1.Namespace
	LimitRanges map[string]*corev1.LimitRange
	LBCRole     *iam.Role
	LBCPolicy   *iam.Policy
	// LBCPodIdentity binds LBCRole to the controller's service account
	// (nil without eksnet:addons.podIdentity: IRSA then).
	LBCPodIdentity *awseks.PodIdentityAssociation
	LBC            *helmv3.Release
	Demo           *networkingv1.Ingress
	// EKSAddons are the EKS add-ons created here, by name (coredns...);
	// vpc-cni and kube-proxy are pulumi-eks's, inside the cluster.
	EKSAddons map[string]*awseks.Addon
	// EBSCSIRole is the EBS CSI driver's role and StorageClass the default
	// gp3 class, with eksnet:addons.ebsCsiDriver.
	EBSCSIRole   *iam.Role
	StorageClass *storagev1.StorageClass
}

// AddonsArgs configure NewAddons.
type AddonsArgs struct {
	Cluster    *Cluster
	Network    *Network
	Kubernetes *Kubernetes
	// NodeGroups must be up before charts whose pods need nodes.
	NodeGroups []pulumi.Resource
}

// NewAddons installs the LB controller, the namespaces with their
// LimitRange and the optional demo app.
func NewAddons(ctx *pulumi.Context, name string, cfg stacks.Config, args AddonsArgs, opts ...pulumi.ResourceOption) (*Addons, error) {
	a := &Addons{Namespaces: map[string]*corev1.Namespace{}, LimitRanges: map[string]*corev1.LimitRange{}, EKSAddons: map[string]*awseks.Addon{}}
	if err := ctx.RegisterComponentResource("eksnet:infra:Addons", name, a, opts...); err != nil {
		return nil, fmt.Errorf("register addons %s: %w", name, err)
	}
	parent := pulumi.Parent(a)
	k8s := pulumi.Provider(args.Kubernetes.Provider)
	namespaces := append([]string{}, cfg.Addons.Namespaces...)
	if cfg.Addons.DemoApp {
		namespaces = append(namespaces, DemoNamespace)
	}
	for _, ns := range namespaces {
		n, err := corev1.NewNamespace(ctx, name+"-"+ns, &corev1.NamespaceArgs{
			Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(ns), Labels: pulumi.StringMap{"eksnet.io/stack": pulumi.String(cfg.Env)}},
		}, parent, k8s)
		if err != nil {
			return nil, fmt.Errorf("namespace %s: %w", ns, err)
		}
		a.Namespaces[ns] = n
		lr, err := corev1.NewLimitRange(ctx, name+"-"+ns+"-defaults", &corev1.LimitRangeArgs{
			Metadata: metav1.ObjectMetaArgs{Name: pulumi.String("default-limits"), Namespace: n.Metadata.Name().Elem()},
			Spec:     corev1.LimitRangeSpecArgs{Limits: DefaultLimitRange()},
		}, parent, k8s)
		if err != nil {
			return nil, fmt.Errorf("limit range in %s: %w", ns, err)
		}
		a.LimitRanges[ns] = lr
	}
	// default exists in every cluster; it gets the same defaults, so a pod
	// applied without a namespace schedules as predictably. Namespaces
	// created later, outside the stack, get none (docs/provisioning.md).
	lr, err := corev1.NewLimitRange(ctx, name+"-default-defaults", &corev1.LimitRangeArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String("default-limits"), Namespace: pulumi.String("default")},
		Spec:     corev1.LimitRangeSpecArgs{Limits: DefaultLimitRange()},
	}, parent, k8s)
	if err != nil {
		return nil, fmt.Errorf("limit range in default: %w", err)
	}
	a.LimitRanges["default"] = lr
	if err := a.eksAddons(ctx, name, cfg, args, parent, k8s); err != nil {
		return nil, err
	}
	if cfg.Addons.LoadBalancerController {
		if err := a.loadBalancerController(ctx, name, cfg, args, parent, k8s); err != nil {
			return nil, err
		}
	}
	if cfg.Addons.DemoApp {
		if err := a.demo(ctx, name, cfg, args, parent, k8s); err != nil {
			return nil, err
		}
	}
	if err := ctx.RegisterResourceOutputs(a, pulumi.Map{}); err != nil {
		return nil, fmt.Errorf("register addons outputs: %w", err)
	}
	return a, nil
}

// loadBalancerController installs the controller's chart with its IAM
// role: through an EKS Pod Identity association when the stack runs the
// Pod Identity agent (the controller's AWS SDK reads the agent's
// credentials), else through IRSA (the service account's role-arn
// annotation and the cluster's OIDC provider).
func (a *Addons) loadBalancerController(ctx *pulumi.Context, name string, cfg stacks.Config, args AddonsArgs, parent, k8s pulumi.ResourceOption) error {
	podIdentity := cfg.Addons.PodIdentity
	var trust pulumi.StringInput = pulumi.String(PodIdentityTrust().JSON())
	if !podIdentity {
		trust = args.Cluster.IRSATrust(LBCNamespace, LBCAccount)
	}
	var err error
	a.LBCRole, err = iam.NewRole(ctx, name+"-lbc", &iam.RoleArgs{
		AssumeRolePolicy: trust,
		Description:      pulumi.String("AWS Load Balancer Controller of " + cfg.ClusterName),
	}, parent)
	if err != nil {
		return fmt.Errorf("lb controller role: %w", err)
	}
	a.LBCPolicy, err = iam.NewPolicy(ctx, name+"-lbc", &iam.PolicyArgs{
		Policy: pulumi.String(LoadBalancerControllerPolicy(Partition(cfg.Region)).JSON()),
	}, parent)
	if err != nil {
		return fmt.Errorf("lb controller policy: %w", err)
	}
	if _, err := iam.NewRolePolicyAttachment(ctx, name+"-lbc", &iam.RolePolicyAttachmentArgs{Role: a.LBCRole.Name, PolicyArn: a.LBCPolicy.Arn}, parent); err != nil {
		return fmt.Errorf("lb controller policy attachment: %w", err)
	}
	serviceAccount := pulumi.Map{"create": pulumi.Bool(true), "name": pulumi.String(LBCAccount)}
	after := append([]pulumi.Resource{}, args.NodeGroups...)
	if podIdentity {
		a.LBCPodIdentity, err = awseks.NewPodIdentityAssociation(ctx, name+"-lbc", &awseks.PodIdentityAssociationArgs{
			ClusterName:    args.Cluster.Name,
			Namespace:      pulumi.String(LBCNamespace),
			ServiceAccount: pulumi.String(LBCAccount),
			RoleArn:        a.LBCRole.Arn,
		}, parent, pulumi.DependsOn([]pulumi.Resource{a.EKSAddons[stacks.AddonPodIdentity]}))
		if err != nil {
			return fmt.Errorf("lb controller pod identity association: %w", err)
		}
		// The controller's pods must start with the association in place,
		// or their SDK finds no credentials.
		after = append(after, a.LBCPodIdentity)
	} else {
		serviceAccount["annotations"] = pulumi.StringMap{"eks.amazonaws.com/role-arn": a.LBCRole.Arn}
	}
	a.LBC, err = helmv3.NewRelease(ctx, name+"-lbc", &helmv3.ReleaseArgs{
		Name:           pulumi.String(LBCChart),
		Chart:          pulumi.String(LBCChart),
		Version:        pulumi.String(LBCChartVersion),
		Namespace:      pulumi.String(LBCNamespace),
		RepositoryOpts: helmv3.RepositoryOptsArgs{Repo: pulumi.String(LBCChartRepo)},
		Values: pulumi.Map{
			"clusterName": args.Cluster.Name,
			// Region and VPC are given so the controller never needs IMDS
			// (the node's hop limit of 1 keeps pods off it).
			"region":         pulumi.String(cfg.Region),
			"vpcId":          args.Network.VPCID,
			"serviceAccount": serviceAccount,
		},
	}, parent, k8s, pulumi.DependsOn(after))
	if err != nil {
		return fmt.Errorf("lb controller release: %w", err)
	}
	return nil
}

func (a *Addons) demo(ctx *pulumi.Context, name string, cfg stacks.Config, args AddonsArgs, parent, k8s pulumi.ResourceOption) error {
	ns := a.Namespaces[DemoNamespace].Metadata.Name().Elem()
	labels := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String("game-2048")}
	if _, err := appsv1.NewDeployment(ctx, name+"-2048", &appsv1.DeploymentArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String("game-2048"), Namespace: ns},
		Spec: appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(2),
			Selector: metav1.LabelSelectorArgs{MatchLabels: labels},
			Template: corev1.PodTemplateSpecArgs{
				Metadata: metav1.ObjectMetaArgs{Labels: labels},
				Spec: corev1.PodSpecArgs{Containers: corev1.ContainerArray{corev1.ContainerArgs{
					Name: pulumi.String("app"), Image: pulumi.String(DemoImage(cfg)),
					Ports: corev1.ContainerPortArray{corev1.ContainerPortArgs{ContainerPort: pulumi.Int(80)}},
				}}},
			},
		},
	}, parent, k8s, pulumi.DependsOn(args.NodeGroups)); err != nil {
		return fmt.Errorf("demo deployment: %w", err)
	}
	svc, err := corev1.NewService(ctx, name+"-2048", &corev1.ServiceArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String("game-2048"), Namespace: ns},
		Spec: corev1.ServiceSpecArgs{
			Selector: labels,
			Ports:    corev1.ServicePortArray{corev1.ServicePortArgs{Port: pulumi.Int(80), TargetPort: pulumi.Int(80)}},
		},
	}, parent, k8s)
	if err != nil {
		return fmt.Errorf("demo service: %w", err)
	}
	if len(cfg.Addons.DemoAllowedCIDRs) == 0 {
		// The controller reads a missing or empty inbound-cidrs as
		// 0.0.0.0/0, so without a list there is no ALB at all: closed by
		// default. `eksnet plan` says so, and an update refuses.
		return nil
	}
	deps := []pulumi.Resource{svc}
	if a.LBC != nil {
		deps = append(deps, a.LBC) // the controller's webhook must be up
	}
	a.Demo, err = networkingv1.NewIngress(ctx, name+"-2048", &networkingv1.IngressArgs{
		Metadata: metav1.ObjectMetaArgs{
			Name: pulumi.String("game-2048"), Namespace: ns,
			Annotations: pulumi.StringMap{
				AnnotationScheme: pulumi.String("internet-facing"),
				// IP targets: the ALB sends straight to pod IPs, which the
				// VPC routes because pods hold ENI addresses.
				AnnotationTargetType: pulumi.String("ip"),
				// Only these may reach the ALB (its security group rules).
				AnnotationInboundCIDRs: pulumi.String(strings.Join(cfg.Addons.DemoAllowedCIDRs, ",")),
			},
		},
		Spec: networkingv1.IngressSpecArgs{
			IngressClassName: pulumi.String("alb"),
			Rules: networkingv1.IngressRuleArray{networkingv1.IngressRuleArgs{
				Http: networkingv1.HTTPIngressRuleValueArgs{Paths: networkingv1.HTTPIngressPathArray{networkingv1.HTTPIngressPathArgs{
					Path: pulumi.String("/"), PathType: pulumi.String("Prefix"),
					Backend: networkingv1.IngressBackendArgs{Service: networkingv1.IngressServiceBackendArgs{
						Name: svc.Metadata.Name().Elem(), Port: networkingv1.ServiceBackendPortArgs{Number: pulumi.Int(80)},
					}},
				}}},
			}},
		},
	}, parent, k8s, pulumi.DependsOn(deps))
	if err != nil {
		return fmt.Errorf("demo ingress: %w", err)
	}
	return nil
}
