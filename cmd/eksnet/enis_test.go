package main

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/eksnet/eksnet/cni-agent/cloud"
	"github.com/eksnet/eksnet/internal/cli"
	"github.com/eksnet/eksnet/sim/fakeec2"
	"github.com/eksnet/eksnet/stacks"
)

// agentVPC is a simulated VPC as eksnet's stack leaves it for destroy: a
// node subnet with one running node, a pod subnet where the node's agent
// attached an ENI without delete-on-termination (as right before it sets
// the flag) and left another one available, and the fake EC2 on loopback.
type agentVPC struct {
	cloud     *fakeec2.Cloud
	endpoint  string
	node      string
	subnets   []string
	agentENIs []string
}

func newAgentVPC(t *testing.T, cluster string) *agentVPC {
	t.Helper()
	cloudVPC, err := fakeec2.New(fakeec2.Config{VPCCIDR: netip.MustParsePrefix("10.0.0.0/16"), DetachDelay: 50 * time.Millisecond,
		Limits: func(string) (fakeec2.Limits, error) { return fakeec2.Limits{MaxENIs: 3, IPv4PerENI: 6}, nil },
		Subnets: []fakeec2.SubnetSpec{{AZ: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.0.0/24")},
			{AZ: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.1.0/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cloudVPC.Handler())
	t.Cleanup(srv.Close)
	v := &agentVPC{cloud: cloudVPC, endpoint: srv.URL}
	for _, s := range cloudVPC.State().Subnets {
		v.subnets = append(v.subnets, s.ID)
	}
	node, err := cloudVPC.LaunchInstance(fakeec2.LaunchSpec{InstanceType: "t3.medium", SubnetID: v.subnets[0]})
	if err != nil {
		t.Fatal(err)
	}
	v.node = node.ID
	c := v.client(t)
	ctx := context.Background()
	for i := range 2 {
		out, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(v.subnets[1]),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeNetworkInterface,
				Tags: []types.Tag{{Key: aws.String(cloud.TagCluster), Value: aws.String(cluster)}}}}})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(out.NetworkInterface.NetworkInterfaceId)
		v.agentENIs = append(v.agentENIs, id)
		if i == 0 {
			if _, err := c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: aws.String(id),
				InstanceId: aws.String(node.ID), DeviceIndex: aws.Int32(1)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return v
}

// env is the app environment that points the CLI's EC2 client at the fake.
func (v *agentVPC) env() map[string]string {
	return map[string]string{"AWS_ENDPOINT_URL_EC2": v.endpoint, "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"}
}

func (v *agentVPC) client(t *testing.T) *ec2.Client {
	t.Helper()
	a, _, _ := testApp(v.env())
	c, err := a.ec2Client(context.Background(), stacks.Config{Env: "dev", Region: "us-west-2"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeDestroy behaves as Pulumi's destroy of the stack would against the
// simulated VPC: destroying the node group terminates its node (EKS does),
// destroying the rest deletes the subnets, which EC2 refuses with
// DependencyViolation while an ENI is in one.
type fakeDestroy struct {
	t   *testing.T
	vpc *agentVPC
	ec2 *ec2.Client

	mu          sync.Mutex
	groupsGone  bool
	destroyRuns []string
}

const fakeNodeGroupURN = "urn:pulumi:dev::eksnet::eksnet:index:NodeGroup$aws:eks/nodeGroup:NodeGroup::ng-general"

func (f *fakeDestroy) URNs(_ context.Context, typ string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if typ != nodeGroupType || f.groupsGone {
		return nil, nil
	}
	return []string{fakeNodeGroupURN}, nil
}

func (f *fakeDestroy) Destroy(ctx context.Context, targets []string) error {
	f.mu.Lock()
	f.destroyRuns = append(f.destroyRuns, strings.Join(targets, ","))
	f.mu.Unlock()
	if len(targets) > 0 {
		if len(targets) != 1 || targets[0] != fakeNodeGroupURN {
			return fmt.Errorf("fake destroy: unknown targets %v", targets)
		}
		f.mu.Lock()
		f.groupsGone = true
		f.mu.Unlock()
		return f.vpc.cloud.TerminateInstance(ctx, f.vpc.node)
	}
	for _, s := range f.vpc.subnets {
		_, err := f.ec2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(s)})
		if err != nil && cloud.Code(err) != "InvalidSubnetID.NotFound" {
			return fmt.Errorf("deleting subnet %s: %w", s, err)
		}
	}
	return nil
}

// TestDestroyTakesNodeGroupsThenENIsThenTheRest: destroy deletes the node
// groups, sweeps the ENIs their agent left (the one its node's termination
// released, and an available one), then destroys the rest, so the subnets
// go without DependencyViolation; a second destroy finds no node groups
// and no ENIs and still completes.
func TestDestroyTakesNodeGroupsThenENIsThenTheRest(t *testing.T) {
	const cluster = "eksnet-dev"
	vpc := newAgentVPC(t, cluster)
	a, out, _ := testApp(vpc.env())
	cfg := stacks.Config{Env: "dev", Region: "us-west-2", ClusterName: cluster}
	api, err := a.ec2Client(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	eng := &fakeDestroy{t: t, vpc: vpc, ec2: api}
	o := cloud.SweepOptions{Cluster: cluster, Timeout: time.Minute, StuckAfter: time.Second, Poll: 20 * time.Millisecond}
	if err := a.destroyInOrder(t.Context(), eng, api, cfg, o); err != nil {
		t.Fatalf("destroy: %v\n%s", err, out)
	}
	if st := vpc.cloud.State(); len(st.Subnets) != 0 || len(st.ENIs) != 0 {
		t.Fatalf("after destroy: subnets %v, ENIs %v", st.Subnets, st.ENIs)
	}
	text := out.String()
	for _, want := range []string{"step 1 of 3: the 1 node groups", "step 2 of 3: the ENIs tagged eksnet.io/cluster=eksnet-dev",
		"deleted  " + vpc.agentENIs[0], "deleted  " + vpc.agentENIs[1], "ENIs of cluster eksnet-dev: 2 deleted", "step 3 of 3"} {
		if !strings.Contains(text, want) {
			t.Errorf("destroy output lacks %q:\n%s", want, text)
		}
	}
	out.Reset()
	if err := a.destroyInOrder(t.Context(), eng, api, cfg, o); err != nil {
		t.Fatalf("second destroy: %v", err)
	}
	if strings.Contains(out.String(), "step 1") || !strings.Contains(out.String(), "0 deleted") {
		t.Errorf("second destroy redid steps 1 or 2:\n%s", out)
	}
}

// TestENIsSweepCommand: the CLI's dry run reports and changes nothing;
// without a terminal and --yes it refuses with exit status 2; with --yes
// it deletes; bad durations are refused naming the flag.
func TestENIsSweepCommand(t *testing.T) {
	dir := newProject(t)
	pd := []string{"--project-dir", dir}
	if _, stderr, code := runCLI(t, nil, "", append([]string{"stack", "new", "dev", "--preset", "dev", "--region", "us-west-2"}, pd...)...); code != 0 {
		t.Fatal(stderr)
	}
	vpc := newAgentVPC(t, "eksnet-dev")
	if err := vpc.cloud.TerminateInstance(context.Background(), vpc.node); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the detach delay: both agent ENIs are available now
	env := vpc.env()

	out, stderr, code := runCLI(t, env, "", append([]string{"enis", "sweep", "dev", "--dry-run"}, pd...)...)
	if code != 0 || !strings.Contains(out, "would delete  "+vpc.agentENIs[0]) || !strings.Contains(out, "ENIs of cluster eksnet-dev: 2 to delete") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, stderr)
	}
	if n := len(vpc.cloud.State().ENIs); n != 2 {
		t.Fatalf("dry run changed the ENIs: %d left, want 2", n)
	}

	_, stderr, code = runCLI(t, env, "", append([]string{"enis", "sweep", "dev"}, pd...)...)
	if code != cli.ExitUsage || !strings.Contains(stderr, "enis sweep dev: stdin is not a terminal, so eksnet cannot ask for confirmation; review `eksnet enis sweep dev --dry-run` and pass --yes") {
		t.Fatalf("sweep on a non-terminal without --yes: exit %d, %s", code, stderr)
	}
	// On a terminal it shows the dry run and asks; "no" changes nothing.
	a, aout, _ := testApp(env)
	a.interactive, a.stdin = true, strings.NewReader("no\n")
	err := runWith(t.Context(), append([]string{"enis", "sweep", "dev"}, pd...), a)
	if !errors.Is(err, errNotConfirmed) || !strings.Contains(aout.String(), "would delete  "+vpc.agentENIs[1]) ||
		!strings.Contains(aout.String(), "Sweep these ENIs of cluster eksnet-dev in us-west-2 (account of the current AWS credentials)? Type yes to continue: ") {
		t.Fatalf("sweep answered no: %v\n%s", err, aout)
	}
	if n := len(vpc.cloud.State().ENIs); n != 2 {
		t.Fatalf("sweep answered no changed the ENIs: %d left, want 2", n)
	}
	for _, tc := range []struct{ flag, want string }{
		{"--timeout=0s", "--timeout 0s: must be a positive duration"},
		{"--stuck-after=-1s", "--stuck-after -1s: must be a positive duration"},
	} {
		_, stderr, code = runCLI(t, env, "", append([]string{"enis", "sweep", "dev", "--yes", tc.flag}, pd...)...)
		if code != cli.ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, %s", tc.flag, code, stderr)
		}
	}

	out, stderr, code = runCLI(t, env, "", append([]string{"enis", "sweep", "dev", "--yes"}, pd...)...)
	if code != 0 || !strings.Contains(out, "ENIs of cluster eksnet-dev: 2 deleted") {
		t.Fatalf("sweep --yes: exit %d\n%s%s", code, out, stderr)
	}
	if n := len(vpc.cloud.State().ENIs); n != 0 {
		t.Fatalf("after the sweep: %d ENIs left", n)
	}
}
