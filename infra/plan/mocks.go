package plan

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Registration is one resource the program registered with the mock engine.
type Registration struct {
	URN       string
	Type      string
	Name      string
	ParentURN string
	Custom    bool
	Remote    bool
	Protect   bool
	// RetainOnDelete: the engine never deletes the cloud object.
	RetainOnDelete bool
	DependsOn      []string
	// IgnoreChanges are the input paths later updates leave alone.
	IgnoreChanges []string
	// Inputs are the registered inputs, secrets unwrapped into plain values.
	Inputs map[string]any
	ID     string
}

// Mocks is the mock engine eksnet plan and the infra tests run the program
// under. It records every registration and answers with the outputs AWS
// would compute, deterministic and derived from the inputs (IDs hash the
// logical name), so the program's Applies run as they would for real.
type Mocks struct {
	// Account is the AWS account ID in ARNs.
	Account string
	Region  string
	// Project and Stack name the URNs, as the mock monitor builds them.
	Project, Stack string

	// Existing is the VPC and subnets a bring-your-own-VPC stack looks up
	// (eksnet:network.vpcId): the mock engine answers getVpc and getSubnet
	// from it. Nil, it answers none, since `eksnet plan` runs offline.
	Existing *ExistingNetwork

	mu   sync.Mutex
	regs []Registration
	// Calls records invoke tokens with their arguments.
	calls []Call
}

// Call is one recorded invoke.
type Call struct {
	Token string
	Args  map[string]any
}

var _ pulumi.MockResourceMonitor = (*Mocks)(nil)

// NewMocks returns mocks answering for a project's stack in region.
func NewMocks(project, stack, region string) *Mocks {
	return &Mocks{Account: "123456789012", Region: region, Project: project, Stack: stack}
}

// Registrations returns what was registered, in order.
func (m *Mocks) Registrations() []Registration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Registration(nil), m.regs...)
}

// Calls returns the recorded invokes.
func (m *Mocks) Calls() []Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Call(nil), m.calls...)
}

// ByType returns the registrations of one type token.
func (m *Mocks) ByType(token string) []Registration {
	var out []Registration
	for _, r := range m.Registrations() {
		if r.Type == token {
			out = append(out, r)
		}
	}
	return out
}

// ExistingNetwork is an existing VPC as the mock engine's lookups see it.
type ExistingNetwork struct {
	VPCID string
	// CIDRs are the VPC's associated IPv4 blocks, the primary first.
	CIDRs []string
	// DNS is enableDnsSupport and enableDnsHostnames.
	DNS     bool
	Subnets []ExistingSubnet
}

// ExistingSubnet is one subnet of an ExistingNetwork.
type ExistingSubnet struct {
	ID, VPCID, AZ, CIDR string
	Tags                map[string]string
}

// lookup answers getVpc and getSubnet from m.Existing.
func (m *Mocks) lookup(token string, a map[string]any) (resource.PropertyMap, error) {
	id, _ := a["id"].(string)
	e := m.Existing
	if e == nil {
		return nil, fmt.Errorf("mock engine: %s %s: eksnet plan runs offline and cannot look up an existing VPC; `eksnet preview` reads it from AWS", token, id)
	}
	if token == "aws:ec2/getVpc:getVpc" {
		if id != e.VPCID {
			return nil, fmt.Errorf("InvalidVpcID.NotFound: The vpc ID '%s' does not exist", id)
		}
		var assoc []any
		for i, c := range e.CIDRs {
			assoc = append(assoc, map[string]any{"associationId": fmt.Sprintf("vpc-cidr-assoc-%d", i), "cidrBlock": c, "state": "associated"})
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": id, "arn": fmt.Sprintf("arn:aws:ec2:%s:%s:vpc/%s", m.Region, m.Account, id), "cidrBlock": e.CIDRs[0],
			"cidrBlockAssociations": assoc, "enableDnsSupport": e.DNS, "enableDnsHostnames": e.DNS, "state": "available",
		}), nil
	}
	for _, s := range e.Subnets {
		if s.ID != id {
			continue
		}
		tags := map[string]any{}
		for k, v := range s.Tags {
			tags[k] = v
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": id, "arn": fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", m.Region, m.Account, id),
			"vpcId": s.VPCID, "availabilityZone": s.AZ, "cidrBlock": s.CIDR, "tags": tags, "state": "available",
		}), nil
	}
	return nil, fmt.Errorf("InvalidSubnetID.NotFound: The subnet ID '%s' does not exist", id)
}

// Call answers invokes: the SSM AMI parameter lookup, and the VPC and
// subnet lookups of a stack in an existing VPC.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	a := plain(args.Args)
	m.mu.Lock()
	m.calls = append(m.calls, Call{Token: args.Token, Args: a})
	m.mu.Unlock()
	switch args.Token {
	case "aws:ec2/getVpc:getVpc", "aws:ec2/getSubnet:getSubnet":
		return m.lookup(args.Token, a)
	case "aws:ssm/getParameter:getParameter":
		name, _ := a["name"].(string)
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": name, "name": name, "type": "String", "version": 1,
			"arn":   fmt.Sprintf("arn:aws:ssm:%s::parameter%s", m.Region, name),
			"value": "ami-" + shortHash(name, 17), "insecureValue": "ami-" + shortHash(name, 17),
		}), nil
	}
	return nil, fmt.Errorf("mock engine: no answer for invoke %s", args.Token)
}

// NewResource records a registration and returns its outputs.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	in := plain(args.Inputs)
	reg := Registration{Type: args.TypeToken, Name: args.Name, Custom: args.Custom, Inputs: in}
	if rpc := args.RegisterRPC; rpc != nil {
		reg.ParentURN = rpc.GetParent()
		reg.Protect = rpc.GetProtect()
		reg.RetainOnDelete = rpc.GetRetainOnDelete()
		reg.Remote = rpc.GetRemote()
		reg.DependsOn = rpc.GetDependencies()
		reg.IgnoreChanges = rpc.GetIgnoreChanges()
	}
	out := map[string]any{}
	for k, v := range in {
		out[k] = v
	}
	id := args.Name + "-" + shortHash(args.TypeToken+args.Name, 8)
	arn := func(service, kind string) string {
		return fmt.Sprintf("arn:aws:%s:%s:%s:%s/%s", service, m.Region, m.Account, kind, id)
	}
	switch args.TypeToken {
	case "aws:ec2/vpc:Vpc":
		id = "vpc-" + shortHash(args.Name, 17)
		out["arn"] = arn("ec2", "vpc")
	case "aws:ec2/subnet:Subnet":
		id = "subnet-" + shortHash(args.Name, 17)
	case "aws:ec2/launchTemplate:LaunchTemplate":
		id = "lt-" + shortHash(args.Name, 17)
		out["latestVersion"] = 1
	case "aws:iam/role:Role":
		out["name"] = id
		out["arn"] = fmt.Sprintf("arn:aws:iam::%s:role/%s", m.Account, id)
	case "aws:iam/policy:Policy":
		out["arn"] = fmt.Sprintf("arn:aws:iam::%s:policy/%s", m.Account, id)
	case "aws:kms/key:Key":
		id = shortHash(args.Name, 32)
		out["arn"] = fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", m.Region, m.Account, id)
	case "aws:s3/bucketV2:BucketV2":
		id = args.Name + "-" + shortHash(args.Name, 7)
		out["bucket"] = id
		out["arn"] = "arn:aws:s3:::" + id
	case "aws:eks/nodeGroup:NodeGroup":
		prefix, _ := in["nodeGroupNamePrefix"].(string)
		out["nodeGroupName"] = prefix + shortHash(args.Name, 8)
	case "eks:index:Cluster":
		name, _ := in["name"].(string)
		endpoint := fmt.Sprintf("https://%s.gr7.%s.eks.amazonaws.com", strings.ToUpper(shortHash(name, 32)), m.Region)
		issuer := fmt.Sprintf("https://oidc.eks.%s.amazonaws.com/id/%s", m.Region, strings.ToUpper(shortHash(name, 32)))
		kc, _ := json.Marshal(map[string]any{
			"apiVersion": "v1", "kind": "Config", "current-context": "aws",
			"clusters": []any{map[string]any{"name": "kubernetes", "cluster": map[string]any{"server": endpoint, "certificate-authority-data": MockCA()}}},
			"contexts": []any{map[string]any{"name": "aws", "context": map[string]any{"cluster": "kubernetes", "user": "aws"}}},
			"users": []any{map[string]any{"name": "aws", "user": map[string]any{"exec": map[string]any{
				"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws", "args": []any{"eks", "get-token", "--cluster-name", name},
			}}}},
		})
		out["kubeconfigJson"] = string(kc)
		out["kubeconfig"] = string(kc)
		out["oidcIssuer"] = strings.TrimPrefix(issuer, "https://")
		out["oidcProviderUrl"] = issuer
		out["oidcProviderArn"] = fmt.Sprintf("arn:aws:iam::%s:oidc-provider/%s", m.Account, strings.TrimPrefix(issuer, "https://"))
		// pulumi-eks v3.9.1 (ClusterArgs.SkipDefaultSecurityGroups,
		// Cluster.ClusterSecurityGroupId): the ids are the EKS-created
		// cluster security group only when skipDefaultSecurityGroups is
		// true; otherwise they are the groups pulumi-eks makes itself.
		if skip, _ := in["skipDefaultSecurityGroups"].(bool); skip {
			out["clusterSecurityGroupId"] = MockEKSClusterSecurityGroup(name)
			out["nodeSecurityGroupId"] = MockEKSClusterSecurityGroup(name)
		} else {
			out["clusterSecurityGroupId"] = "sg-" + shortHash("pulumi-eks-cluster-"+name, 17)
			out["nodeSecurityGroupId"] = "sg-" + shortHash("pulumi-eks-node-"+name, 17)
		}
		out["core"] = map[string]any{"endpoint": endpoint}
	}
	if _, ok := out["arn"]; !ok && strings.HasPrefix(args.TypeToken, "aws:") {
		out["arn"] = fmt.Sprintf("arn:aws:%s:%s:%s:%s", strings.SplitN(strings.TrimPrefix(args.TypeToken, "aws:"), "/", 2)[0], m.Region, m.Account, id)
	}
	reg.ID = id
	m.mu.Lock()
	reg.URN = m.urn(reg.ParentURN, reg.Type, reg.Name)
	m.regs = append(m.regs, reg)
	m.mu.Unlock()
	return id, resource.NewPropertyMapFromMap(out), nil
}

// MockEKSClusterSecurityGroup is the id the mock engine gives the security
// group EKS itself creates for cluster name: the group EKS attaches to
// managed node group instances whose launch template names none.
func MockEKSClusterSecurityGroup(name string) string {
	return "sg-" + shortHash("eks-cluster-sg-"+name, 17)
}

// plain turns a property map into plain Go values, secrets unwrapped and
// unknowns as nil, so recorded inputs read like the program wrote them.
func plain(pm resource.PropertyMap) map[string]any {
	out := map[string]any{}
	for k, v := range pm {
		out[string(k)] = plainValue(v)
	}
	return out
}

func plainValue(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return plainValue(v.SecretValue().Element)
	case v.IsOutput():
		return plainValue(v.OutputValue().Element)
	case v.IsComputed():
		return nil
	case v.IsObject():
		return plain(v.ObjectValue())
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = plainValue(e)
		}
		return out
	case v.IsAsset():
		a := v.AssetValue()
		return map[string]any{"asset": a.Path, "hash": a.Hash}
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	}
	return v.Mappable()
}

func shortHash(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:])
	for len(h) < n {
		h += h
	}
	return h[:n]
}

var (
	caOnce sync.Once
	caData string
)

// MockCA returns a real, self-signed CA certificate (base64 of its PEM, as
// EKS reports certificateAuthority.data), generated from a fixed seed so
// every run renders byte-identical user data.
func MockCA() string {
	caOnce.Do(func() {
		key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x42}, ed25519.SeedSize))
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "kubernetes (eksnet plan)"},
			NotBefore:             time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			NotAfter:              time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}
		der, err := x509.CreateCertificate(zeroReader{}, tmpl, tmpl, key.Public(), key)
		if err != nil {
			panic(fmt.Sprintf("plan: self-signing the mock CA: %v", err))
		}
		caData = base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	})
	return caData
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// urn computes a URN the way the mock monitor does, so parents resolve.
func (m *Mocks) urn(parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(m.Stack), tokens.PackageName(m.Project), parentType, tokens.Type(typ), name))
}
