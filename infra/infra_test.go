package infra_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/bootstrap/bundle"
	"github.com/eksnet/eksnet/bootstrap/maxpods"
	"github.com/eksnet/eksnet/bootstrap/userdata"
	"github.com/eksnet/eksnet/infra"
	"github.com/eksnet/eksnet/infra/cidrplan"
	"github.com/eksnet/eksnet/infra/plan"
	"github.com/eksnet/eksnet/stacks"
)

func run(t *testing.T, cfg stacks.Config) (*infra.Stack, *plan.Mocks) {
	t.Helper()
	m := plan.NewMocks(plan.Project, cfg.Env, cfg.Region)
	st, err := plan.Execute(context.Background(), cfg, m)
	if err != nil {
		t.Fatalf("program failed under mocks: %v", err)
	}
	return st, m
}

func preset(t *testing.T, name string) stacks.Config {
	t.Helper()
	cfg, err := stacks.Preset(name, name, "us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func one(t *testing.T, m *plan.Mocks, typ, name string) plan.Registration {
	t.Helper()
	for _, r := range m.ByType(typ) {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s named %s registered", typ, name)
	return plan.Registration{}
}

func str(v any) string { s, _ := v.(string); return s }

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

const (
	tSubnet    = "aws:ec2/subnet:Subnet"
	tNAT       = "aws:ec2/natGateway:NatGateway"
	tRT        = "aws:ec2/routeTable:RouteTable"
	tLT        = "aws:ec2/launchTemplate:LaunchTemplate"
	tMNG       = "aws:eks/nodeGroup:NodeGroup"
	tCluster   = "eks:index:Cluster"
	tRole      = "aws:iam/role:Role"
	tRolePol   = "aws:iam/rolePolicy:RolePolicy"
	tAttach    = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
	tKMS       = "aws:kms/key:Key"
	tBucket    = "aws:s3/bucketV2:BucketV2"
	tObject    = "aws:s3/bucketObjectv2:BucketObjectv2"
	tReserve   = "aws:ec2/subnetCidrReservation:SubnetCidrReservation"
	tNamespace = "kubernetes:core/v1:Namespace"
	tLimit     = "kubernetes:core/v1:LimitRange"
	tVPC       = "aws:ec2/vpc:Vpc"
)

// TestPresets runs every preset through the program under the mock engine
// and asserts the inputs the cloud would receive.
func TestPresets(t *testing.T) {
	for _, name := range stacks.PresetNames {
		t.Run(name, func(t *testing.T) {
			cfg := preset(t, name)
			st, m := run(t, cfg)
			checkSubnets(t, cfg, m)
			checkNAT(t, cfg, m)
			checkNodeGroups(t, cfg, st, m)
			checkNodeIAM(t, cfg, m)
			checkLBCTrust(t, cfg, m)
			checkLimitRanges(t, cfg, m)
			checkCluster(t, cfg, m)
			checkOrdering(t, m)
		})
	}
}

func checkSubnets(t *testing.T, cfg stacks.Config, m *plan.Mocks) {
	t.Helper()
	layout, err := cfg.Layout()
	if err != nil {
		t.Fatal(err)
	}
	subnets := m.ByType(tSubnet)
	if want := len(cfg.AZs()) * 2; len(subnets) != want {
		t.Fatalf("%d subnets, want %d (public + private per AZ)", len(subnets), want)
	}
	for _, sn := range layout.Subnets {
		r := one(t, m, tSubnet, "network-"+sn.Name)
		tags := obj(r.Inputs["tags"])
		if str(r.Inputs["cidrBlock"]) != sn.CIDR || str(r.Inputs["availabilityZone"]) != sn.AZ {
			t.Errorf("subnet %s: cidr %v az %v, want %s %s", sn.Name, r.Inputs["cidrBlock"], r.Inputs["availabilityZone"], sn.CIDR, sn.AZ)
		}
		if str(tags["kubernetes.io/cluster/"+cfg.ClusterName]) != "shared" {
			t.Errorf("subnet %s lacks the cluster tag: %v", sn.Name, tags)
		}
		elb, internal := str(tags["kubernetes.io/role/elb"]), str(tags["kubernetes.io/role/internal-elb"])
		if (sn.Role == cidrplan.Public) != (elb == "1") || (sn.Role == cidrplan.Private) != (internal == "1") {
			t.Errorf("subnet %s (%s) load balancer tags: elb=%q internal-elb=%q", sn.Name, sn.Role, elb, internal)
		}
		if cfg.CNI.PrefixDelegation && sn.Role == cidrplan.Private {
			res := one(t, m, tReserve, "network-"+sn.Name+"-prefixes")
			if str(res.Inputs["reservationType"]) != "prefix" || str(res.Inputs["cidrBlock"]) != sn.Reservation || sn.Reservation == "" {
				t.Errorf("subnet %s prefix reservation inputs %v, want prefix %s", sn.Name, res.Inputs, sn.Reservation)
			}
		}
	}
	if !cfg.CNI.PrefixDelegation && len(m.ByType(tReserve)) != 0 {
		t.Error("prefix reservations without prefix delegation")
	}
}

func checkNAT(t *testing.T, cfg stacks.Config, m *plan.Mocks) {
	t.Helper()
	nats := m.ByType(tNAT)
	want := map[string]int{stacks.NATNone: 0, stacks.NATSingle: 1, stacks.NATPerAZ: len(cfg.AZs())}[cfg.Network.NAT]
	if len(nats) != want {
		t.Fatalf("NAT %s: %d gateways, want %d", cfg.Network.NAT, len(nats), want)
	}
	natIDs := map[string]string{} // id -> AZ of its public subnet
	for _, n := range nats {
		for _, s := range m.ByType(tSubnet) {
			if s.ID == str(n.Inputs["subnetId"]) {
				natIDs[n.ID] = str(s.Inputs["availabilityZone"])
			}
		}
	}
	for _, az := range cfg.AZs() {
		rt := one(t, m, tRT, "network-private-"+az)
		routes, _ := rt.Inputs["routes"].([]any)
		if len(routes) != 1 {
			t.Fatalf("private route table %s: %d routes, want the default route via NAT", az, len(routes))
		}
		natAZ, ok := natIDs[str(obj(routes[0])["natGatewayId"])]
		if !ok {
			t.Fatalf("private route table %s routes via %v, not a NAT gateway of this stack", az, routes[0])
		}
		if cfg.Network.NAT == stacks.NATPerAZ && natAZ != az {
			t.Errorf("per-az NAT: %s routes via the NAT in %s", az, natAZ)
		}
	}
}

func checkNodeGroups(t *testing.T, cfg stacks.Config, st *infra.Stack, m *plan.Mocks) {
	t.Helper()
	for _, ng := range cfg.NodeGroups {
		// The expected value comes straight from the calculator, not
		// through the stack code under test. Agent nodes run one
		// host-network pod (kube-proxy), aws-vpc-cni nodes two, both plus
		// the group's own host-network DaemonSets.
		opts := maxpods.Options{PrefixDelegation: cfg.CNI.PrefixDelegation, CustomNetworking: cfg.CustomNetworking(), MaxENI: cfg.CNI.MaxENI,
			HostNetwork: maxpods.HostNetwork{Agent: cfg.CNI.Mode == stacks.CNIAgent, DaemonSets: ng.HostNetworkDaemonSets}}
		want, err := maxpods.Default().CalculateGroup(ng.InstanceTypes, opts)
		if err != nil {
			t.Fatal(err)
		}
		lt := one(t, m, tLT, "ng-"+ng.Name)
		raw, err := base64.StdEncoding.DecodeString(str(lt.Inputs["userData"]))
		if err != nil {
			t.Fatalf("user data not base64: %v", err)
		}
		nc, err := userdata.ParseNodeConfig(string(raw))
		if err != nil {
			t.Fatalf("user data: %v", err)
		}
		if nc.Spec.Kubelet.Config.MaxPods != want.MaxPods || want.MaxPods == 0 {
			t.Errorf("node group %s: user data maxPods %d, calculator %d", ng.Name, nc.Spec.Kubelet.Config.MaxPods, want.MaxPods)
		}
		if nc.Spec.Kubelet.Config.KubeReserved["memory"] != fmt.Sprintf("%dMi", want.KubeReservedMemoryMiB) {
			t.Errorf("kube-reserved %v, want %dMi", nc.Spec.Kubelet.Config.KubeReserved, want.KubeReservedMemoryMiB)
		}
		// kubelet registers the CNI label itself, before EKS applies the
		// node group's labels, so aws-node's affinity never matches an agent node.
		if want := infra.LabelCNI + "=" + cfg.CNI.Mode; !slices.ContainsFunc(nc.Spec.Kubelet.Flags, func(f string) bool {
			labels, ok := strings.CutPrefix(f, "--node-labels=")
			return ok && slices.Contains(strings.Split(labels, ","), want)
		}) {
			t.Errorf("node group %s: kubelet flags %q lack --node-labels with %q", ng.Name, nc.Spec.Kubelet.Flags, want)
		}
		if nc.Spec.Cluster.Name != cfg.ClusterName || !strings.HasPrefix(nc.Spec.Cluster.APIServerEndpoint, "https://") || nc.Spec.Cluster.CertificateAuthority != plan.MockCA() || nc.Spec.Cluster.CIDR != cfg.Cluster.ServiceCIDR {
			t.Errorf("node config cluster details %+v", nc.Spec.Cluster)
		}
		for _, spec := range lt.Inputs["tagSpecifications"].([]any) {
			// The agent's policy scopes Attach/Assign on this tag.
			if tags := obj(obj(spec)["tags"]); str(tags[infra.TagCluster]) != cfg.ClusterName {
				t.Errorf("launch template %v tags lack %s=%s", obj(spec)["resourceType"], infra.TagCluster, cfg.ClusterName)
			}
		}
		md := obj(lt.Inputs["metadataOptions"])
		if str(md["httpTokens"]) != "required" || md["httpPutResponseHopLimit"] != float64(1) {
			t.Errorf("launch template metadata options %v: want IMDSv2 required, hop limit 1", md)
		}
		amiCall := false
		for _, c := range m.Calls() {
			if c.Token == "aws:ssm/getParameter:getParameter" && str(c.Args["name"]) == "/aws/service/eks/optimized-ami/"+cfg.KubernetesVersion+"/amazon-linux-2023/x86_64/standard/recommended/image_id" {
				amiCall = true
			}
		}
		if !amiCall || !strings.HasPrefix(str(lt.Inputs["imageId"]), "ami-") {
			t.Errorf("AMI not pinned from the SSM parameter: imageId %v, calls %v", lt.Inputs["imageId"], m.Calls())
		}
		mng := one(t, m, tMNG, "ng-"+ng.Name)
		sc := obj(mng.Inputs["scalingConfig"])
		if sc["maxSize"] != float64(ng.MaxSize) || sc["minSize"] != float64(ng.MinSize) {
			t.Errorf("scaling %v", sc)
		}
		if str(obj(mng.Inputs["launchTemplate"])["id"]) != lt.ID {
			t.Errorf("node group uses launch template %v, want %s", mng.Inputs["launchTemplate"], lt.ID)
		}
		if _, ok := mng.Inputs["amiType"]; ok {
			t.Error("amiType set with a custom AMI in the launch template")
		}
		labels := obj(mng.Inputs["labels"])
		if str(labels[infra.LabelCNI]) != cfg.CNI.Mode {
			t.Errorf("node label %s = %v, want %s", infra.LabelCNI, labels[infra.LabelCNI], cfg.CNI.Mode)
		}
		if cfg.CNI.Mode == stacks.CNIAgent {
			checkAgentUserData(t, cfg, string(raw), want.MaxPods, m)
		}
	}
	if len(st.NodeGroups) != len(cfg.NodeGroups) {
		t.Errorf("%d node groups built, want %d", len(st.NodeGroups), len(cfg.NodeGroups))
	}
}

// checkAgentUserData verifies the digest chain: the uploaded object's bytes
// hash to the digest in its metadata, which is the digest user data checks.
func checkAgentUserData(t *testing.T, cfg stacks.Config, ud string, maxPods int, m *plan.Mocks) {
	t.Helper()
	a, err := plan.UserDataAgent(ud)
	if err != nil {
		t.Fatal(err)
	}
	obj := one(t, m, tObject, "agent-"+a.Arch)
	content, err := base64.StdEncoding.DecodeString(str(obj.Inputs["contentBase64"]))
	if err != nil || len(content) == 0 {
		t.Fatalf("agent object content: %v", err)
	}
	sum := sha256.Sum256(content)
	if hex.EncodeToString(sum[:]) != a.SHA256 || str(objMeta(obj)["sha256"]) != a.SHA256 {
		t.Errorf("agent digest chain broken: content %x, metadata %v, user data %s", sum, objMeta(obj), a.SHA256)
	}
	// The placeholder is a real node bundle, so user data's unpacking
	// would accept it exactly as it will the built one.
	if err := bundle.Verify(bytes.NewReader(content)); err != nil || str(obj.Inputs["contentType"]) != bundle.ContentType {
		t.Errorf("agent object (%v) is not a node bundle: %v", obj.Inputs["contentType"], err)
	}
	if !strings.HasSuffix(a.BinaryURL, "/"+str(obj.Inputs["key"])) || !strings.HasPrefix(a.BinaryURL, "s3://") {
		t.Errorf("agent URL %s does not point at object %v", a.BinaryURL, obj.Inputs["key"])
	}
	// The key names the digest, so a rebuild never overwrites the object an
	// older launch template version fetches, and the replaced object is kept.
	if want := infra.AgentKey(cfg.CNI.Agent.Version, a.Arch, a.SHA256); str(obj.Inputs["key"]) != want || !obj.RetainOnDelete {
		t.Errorf("agent object key %v (retained %v), want %s, retained", obj.Inputs["key"], obj.RetainOnDelete, want)
	}
	mode := map[bool]string{true: "prefix", false: "secondary"}[cfg.CNI.PrefixDelegation]
	if a.Env["EKSNET_MAX_PODS"] != fmt.Sprint(maxPods) || a.Env["EKSNET_MODE"] != mode || a.Env["EKSNET_CLUSTER"] != cfg.ClusterName {
		t.Errorf("agent.env %v", a.Env)
	}
	// Every pool setting of eksnet:cni reaches the agent; zero is left out
	// so the agent's default applies.
	for key, v := range map[string]int{
		"EKSNET_WARM_IP_TARGET": cfg.CNI.WarmIPTarget, "EKSNET_MINIMUM_IP_TARGET": cfg.CNI.MinimumIPTarget,
		"EKSNET_WARM_PREFIX_TARGET": cfg.CNI.WarmPrefixTarget, "EKSNET_WARM_ENI_TARGET": cfg.CNI.WarmENITarget, "EKSNET_MAX_ENI": cfg.CNI.MaxENI,
	} {
		got, ok := a.Env[key]
		if (v == 0 && ok) || (v != 0 && got != fmt.Sprint(v)) {
			t.Errorf("agent.env %s = %q (present %v), want %d (absent when 0)", key, got, ok, v)
		}
	}
}

func objMeta(r plan.Registration) map[string]any { return obj(r.Inputs["metadata"]) }

func policy(t *testing.T, doc string) infra.PolicyDocument {
	t.Helper()
	var p infra.PolicyDocument
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("policy %s: %v", doc, err)
	}
	return p
}

func checkNodeIAM(t *testing.T, cfg stacks.Config, m *plan.Mocks) {
	t.Helper()
	var attached []string
	for _, a := range m.ByType(tAttach) {
		if strings.HasPrefix(a.Name, "node-iam-") {
			attached = append(attached, str(a.Inputs["policyArn"]))
		}
	}
	for _, a := range attached {
		if strings.Contains(a, "FullAccess") || strings.Contains(a, "AdministratorAccess") {
			t.Errorf("node role has a broad managed policy %s", a)
		}
	}
	if cfg.CNI.Mode != stacks.CNIAgent {
		if !slices.Contains(attached, "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy") {
			t.Errorf("aws-vpc-cni mode without the CNI policy: %v", attached)
		}
		return
	}
	if slices.Contains(attached, "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy") {
		t.Error("agent mode attaches the broad AmazonEKS_CNI_Policy")
	}
	doc := policy(t, str(one(t, m, tRolePol, "node-iam-agent").Inputs["policy"]))
	var creates, mutates int
	for _, s := range doc.Statement {
		for _, a := range s.Action {
			if strings.HasPrefix(a, "ec2:") && strings.Contains(a, "*") || a == "*" {
				t.Errorf("statement %s has a wildcard action %s", s.Sid, a)
			}
			if strings.HasPrefix(a, "s3:") && slices.Contains(s.Resource, "*") {
				t.Errorf("statement %s grants %s on every bucket", s.Sid, a)
			}
		}
		if slices.Contains(s.Resource, "*") && !allDescribe(s.Action) {
			t.Errorf("statement %s: %v on every resource", s.Sid, s.Action)
		}
		cond := fmt.Sprint(s.Condition)
		if slices.Contains(s.Action, "ec2:CreateNetworkInterface") && strings.Contains(strings.Join(s.Resource, ","), "network-interface") {
			creates++
			if !strings.Contains(cond, "aws:RequestTag/"+infra.TagCluster+":"+cfg.ClusterName) {
				t.Errorf("CreateNetworkInterface not conditioned on the request tag: %s", cond)
			}
		}
		for _, a := range []string{"ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses", "ec2:ModifyNetworkInterfaceAttribute", "ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface"} {
			if slices.Contains(s.Action, a) {
				mutates++
				if !strings.Contains(cond, "ec2:ResourceTag/") || !strings.Contains(cond, cfg.ClusterName) {
					t.Errorf("%s in %s is not scoped by a cluster resource tag: %s", a, s.Sid, cond)
				}
			}
		}
	}
	if creates == 0 || mutates < 6 {
		t.Errorf("agent policy lacks the ENI statements: %+v", doc)
	}
}

func allDescribe(actions []string) bool {
	for _, a := range actions {
		if !strings.HasPrefix(a, "ec2:Describe") {
			return false
		}
	}
	return true
}

// checkLBCTrust: the controller's role reaches its service account through
// an EKS Pod Identity association when the stack runs the Pod Identity
// agent (trust as the EKS User Guide's pod-id-role page gives it), else
// through IRSA bound to exactly that service account.
func checkLBCTrust(t *testing.T, cfg stacks.Config, m *plan.Mocks) {
	t.Helper()
	if !cfg.Addons.LoadBalancerController {
		return
	}
	role := one(t, m, tRole, "addons-lbc")
	doc := policy(t, str(role.Inputs["assumeRolePolicy"]))
	if len(doc.Statement) != 1 {
		t.Fatalf("LB controller trust has %d statements", len(doc.Statement))
	}
	s := doc.Statement[0]
	rel := m.ByType("kubernetes:helm.sh/v3:Release")
	if len(rel) != 1 {
		t.Fatalf("%d helm releases", len(rel))
	}
	sa := obj(obj(rel[0].Inputs["values"])["serviceAccount"])
	assocs := m.ByType("aws:eks/podIdentityAssociation:PodIdentityAssociation")
	if cfg.Addons.PodIdentity {
		if s.Principal["Service"] != "pods.eks.amazonaws.com" || !slices.Equal(s.Action, []string{"sts:AssumeRole", "sts:TagSession"}) {
			t.Errorf("LB controller trust %+v: want pods.eks.amazonaws.com with sts:AssumeRole and sts:TagSession (EKS Pod Identity)", s)
		}
		if len(assocs) != 1 {
			t.Fatalf("%d Pod Identity associations, want 1 for the LB controller", len(assocs))
		}
		in := assocs[0].Inputs
		if str(in["namespace"]) != "kube-system" || str(in["serviceAccount"]) != "aws-load-balancer-controller" ||
			!strings.HasPrefix(str(in["roleArn"]), "arn:aws:iam::") || str(in["clusterName"]) == "" {
			t.Errorf("LB controller Pod Identity association %v: want kube-system/aws-load-balancer-controller with the role's ARN", in)
		}
		if _, ok := obj(sa["annotations"])["eks.amazonaws.com/role-arn"]; ok || str(sa["name"]) != "aws-load-balancer-controller" {
			t.Errorf("helm service account values %v: want the controller's account without an IRSA role-arn beside Pod Identity", sa)
		}
		if !slices.Contains(rel[0].DependsOn, assocs[0].URN) {
			t.Errorf("LB controller release does not wait for its Pod Identity association (dependsOn %v)", rel[0].DependsOn)
		}
		return
	}
	if len(assocs) != 0 {
		t.Errorf("Pod Identity associations %v without eksnet:addons.podIdentity", assocs)
	}
	fed := s.Principal["Federated"]
	if !strings.Contains(fed, ":oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/") || !slices.Equal(s.Action, []string{"sts:AssumeRoleWithWebIdentity"}) {
		t.Errorf("trust principal %v action %v", s.Principal, s.Action)
	}
	issuer := strings.SplitN(fed, ":oidc-provider/", 2)[1]
	eq := s.Condition["StringEquals"]
	if eq[issuer+":sub"] != "system:serviceaccount:kube-system:aws-load-balancer-controller" || eq[issuer+":aud"] != "sts.amazonaws.com" {
		t.Errorf("trust conditions %v not bound to the controller's service account", s.Condition)
	}
	if str(sa["name"]) != "aws-load-balancer-controller" || !strings.HasPrefix(str(obj(sa["annotations"])["eks.amazonaws.com/role-arn"]), "arn:aws:iam::") {
		t.Errorf("helm service account values %v", sa)
	}
}

func checkLimitRanges(t *testing.T, cfg stacks.Config, m *plan.Mocks) {
	t.Helper()
	nss := m.ByType(tNamespace)
	if len(nss) == 0 {
		t.Fatal("no namespaces created")
	}
	limited := map[string]bool{}
	for _, lr := range m.ByType(tLimit) {
		limits, _ := obj(lr.Inputs["spec"])["limits"].([]any)
		if len(limits) == 0 || obj(obj(limits[0])["defaultRequest"])["memory"] == nil {
			t.Errorf("limit range %s has no default requests: %v", lr.Name, lr.Inputs["spec"])
		}
		limited[str(obj(lr.Inputs["metadata"])["namespace"])] = true
	}
	if !limited["default"] {
		t.Error("namespace default has no LimitRange")
	}
	for _, ns := range nss {
		name := str(obj(ns.Inputs["metadata"])["name"])
		if !limited[name] {
			t.Errorf("namespace %s has no LimitRange", name)
		}
	}
	ing := m.ByType("kubernetes:networking.k8s.io/v1:Ingress")
	switch {
	case cfg.Addons.DemoApp && len(cfg.Addons.DemoAllowedCIDRs) > 0:
		if len(ing) != 1 || str(obj(obj(ing[0].Inputs["metadata"])["annotations"])["alb.ingress.kubernetes.io/target-type"]) != "ip" {
			t.Errorf("demo ingress %v", ing)
		}
	case len(ing) != 0: // closed by default: TestDemoALBClosedWithoutCIDRs
		t.Errorf("an Ingress without eksnet:addons.demoAllowedCidrs: %v", ing)
	}
}

func checkCluster(t *testing.T, cfg stacks.Config, m *plan.Mocks) {
	t.Helper()
	cl := m.ByType(tCluster)
	if len(cl) != 1 || !cl[0].Remote {
		t.Fatalf("want one remote eks:index:Cluster, got %+v", cl)
	}
	in := cl[0].Inputs
	if in["skipDefaultNodeGroup"] != true || str(in["name"]) != cfg.ClusterName || str(in["version"]) != cfg.KubernetesVersion || in["createOidcProvider"] != true {
		t.Errorf("cluster inputs %v", in)
	}
	if in["endpointPublicAccess"] != cfg.Cluster.EndpointPublicAccess || in["endpointPrivateAccess"] != cfg.Cluster.EndpointPrivateAccess {
		t.Errorf("endpoint access %v/%v", in["endpointPublicAccess"], in["endpointPrivateAccess"])
	}
	if in["useDefaultVpcCni"] != false {
		t.Errorf("useDefaultVpcCni %v: the stack configures the VPC CNI add-on", in["useDefaultVpcCni"])
	}
	cni := obj(in["vpcCniOptions"])
	if cfg.CNI.Mode == stacks.CNIAgent {
		expr := fmt.Sprint(obj(cni["configurationValues"])["affinity"])
		if !strings.Contains(expr, "map[key:eksnet.io/cni operator:In values:[aws-vpc-cni]]") {
			t.Errorf("aws-node not kept off agent nodes: %v", cni)
		}
	} else if cni["enablePrefixDelegation"] != cfg.CNI.PrefixDelegation {
		t.Errorf("vpc cni options %v", cni)
	}
	vpc := m.ByType(tVPC)[0]
	keys := m.ByType(tKMS)
	buckets := m.ByType(tBucket)
	if cfg.Preset == stacks.PresetProd {
		if len(keys) != 1 || str(in["encryptionConfigKeyArn"]) == "" || !strings.HasSuffix(str(in["encryptionConfigKeyArn"]), keys[0].ID) || keys[0].Inputs["enableKeyRotation"] != true {
			t.Errorf("prod secrets encryption: keys %v, cluster key %v", keys, in["encryptionConfigKeyArn"])
		}
		// Public too: pulumi up applies in-cluster resources from outside
		// the VPC; nodes use the private endpoint.
		if in["endpointPublicAccess"] != true || in["endpointPrivateAccess"] != true {
			t.Error("prod endpoint is not public and private")
		}
		for _, r := range append([]plan.Registration{cl[0], vpc, keys[0]}, buckets...) {
			if !r.Protect {
				t.Errorf("prod %s %s is not protected", r.Type, r.Name)
			}
		}
	} else {
		if len(keys) != 0 || cl[0].Protect || vpc.Protect {
			t.Errorf("%s: kms keys %d, cluster protect %v", cfg.Preset, len(keys), cl[0].Protect)
		}
	}
}

// checkOrdering asserts node groups wait for what must exist before a
// node boots. The SDK expands a component dependency into its children, so
// the registered dependencies name the eks Cluster (a remote component,
// which completes only with its VPC CNI add-on), the agent objects and the
// ENIConfigs.
func checkOrdering(t *testing.T, m *plan.Mocks) {
	t.Helper()
	var want []string
	for _, typ := range []string{tCluster, tObject, "kubernetes:crd.k8s.amazonaws.com/v1alpha1:ENIConfig", tRolePol} {
		for _, r := range m.ByType(typ) {
			want = append(want, r.URN)
		}
	}
	for _, ng := range m.ByType(tMNG) {
		for _, w := range want {
			if !slices.Contains(ng.DependsOn, w) {
				t.Errorf("node group %s does not depend on %s", ng.Name, w)
			}
		}
	}
}
