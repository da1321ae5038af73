package cloud

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/eksnet/eksnet/sim/fakeec2"
	"github.com/eksnet/eksnet/sim/faults"
)

// leftovers is a VPC as a destroy finds it when the agent left ENIs in the
// pod subnet: one available, one on a stopped instance, one stuck on a
// terminated failed instance, one detaching from a terminated instance, plus
// a foreign untagged ENI and the stopped node's tagged primary in the node
// subnet.
type leftovers struct {
	cloud                                  *fakeec2.Cloud
	ec2                                    *ec2.Client
	podSubnet, nodeSubnet                  string
	available, onStopped, stuck, detaching string
	foreign, stoppedPrimary, stoppedNode   string
	throttled                              *faults.Faults
}

const sweepCluster = "eksnet-dev"

// newLeftovers builds it with detaches taking detachDelay.
func newLeftovers(t *testing.T, detachDelay time.Duration) *leftovers {
	t.Helper()
	limits := func(string) (fakeec2.Limits, error) { return fakeec2.Limits{MaxENIs: 4, IPv4PerENI: 6}, nil }
	f := faults.New(7)
	cloud, err := fakeec2.New(fakeec2.Config{VPCCIDR: netip.MustParsePrefix("10.0.0.0/16"), Limits: limits, Faults: f,
		DetachDelay: detachDelay,
		Subnets: []fakeec2.SubnetSpec{{AZ: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.0.0/24")},
			{AZ: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.1.0/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	// The server outlives every request: Sweep returns only when its calls
	// are answered, and the test's own calls are synchronous.
	srv := httptest.NewServer(cloud.Handler())
	t.Cleanup(srv.Close)
	// No SDK retries: the sweep must ride out the faults itself.
	c := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s"}, nil
		})})
	st := cloud.State()
	l := &leftovers{cloud: cloud, ec2: c, podSubnet: st.Subnets[0].ID, nodeSubnet: st.Subnets[1].ID, throttled: f}
	ctx := context.Background()
	tags := []types.TagSpecification{{ResourceType: types.ResourceTypeNetworkInterface,
		Tags: []types.Tag{{Key: aws.String(TagCluster), Value: aws.String(sweepCluster)}}}}
	create := func(subnet string, tagged bool) string {
		t.Helper()
		in := &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet)}
		if tagged {
			in.TagSpecifications = tags
		}
		out, err := c.CreateNetworkInterface(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.NetworkInterface.NetworkInterfaceId)
	}
	launch := func() fakeec2.InstanceState {
		t.Helper()
		inst, err := cloud.LaunchInstance(fakeec2.LaunchSpec{InstanceType: "t3.medium", SubnetID: l.nodeSubnet})
		if err != nil {
			t.Fatal(err)
		}
		return inst
	}
	attach := func(eni, inst string) {
		t.Helper()
		if _, err := c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: aws.String(eni),
			InstanceId: aws.String(inst), DeviceIndex: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
	}
	l.available = create(l.podSubnet, true)
	l.foreign = create(l.nodeSubnet, false)

	stopped, failed, gone := launch(), launch(), launch()
	l.stoppedNode, l.stoppedPrimary = stopped.ID, stopped.Primary().ID
	// The launch template tags primaries with the cluster too.
	if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{l.stoppedPrimary}, Tags: tags[0].Tags}); err != nil {
		t.Fatal(err)
	}
	l.onStopped, l.stuck, l.detaching = create(l.podSubnet, true), create(l.podSubnet, true), create(l.podSubnet, true)
	attach(l.onStopped, stopped.ID)
	attach(l.stuck, failed.ID)
	attach(l.detaching, gone.ID)
	if err := cloud.StopInstance(stopped.ID); err != nil {
		t.Fatal(err)
	}
	if err := cloud.ImpairInstance(failed.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{failed.ID, gone.ID} {
		if err := cloud.TerminateInstance(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func (l *leftovers) enis() map[string]fakeec2.ENIState {
	out := map[string]fakeec2.ENIState{}
	for _, e := range l.cloud.State().ENIs {
		out[e.ID] = e
	}
	return out
}

func ids(items []SweptENI) []string {
	var out []string
	for _, e := range items {
		out = append(out, e.ID)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// TestSweepLetsTheSubnetGo: with 30% of calls throttled and 10% failing
// with 500 (and no SDK retries), the sweep deletes every tagged non-primary
// ENI in the pod subnet (detaching the stopped instance's, force-detaching
// the one stuck on a failed host), so DeleteSubnet succeeds where it
// answered DependencyViolation before; the foreign ENI and the tagged
// primary are untouched.
func TestSweepLetsTheSubnetGo(t *testing.T) {
	l := newLeftovers(t, 50*time.Millisecond)
	ctx := context.Background()
	if _, err := l.ec2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(l.podSubnet)}); Code(err) != "DependencyViolation" {
		t.Fatalf("DeleteSubnet before the sweep: %v, want DependencyViolation", err)
	}
	if err := l.throttled.Set(faults.Settings{ThrottleRatio: 0.3, ServerErrorRatio: 0.1}); err != nil {
		t.Fatal(err)
	}
	rep, err := Sweep(ctx, l.ec2, SweepOptions{Cluster: sweepCluster, StuckAfter: 2 * time.Second, Poll: 50 * time.Millisecond, Timeout: time.Minute})
	if err != nil {
		t.Fatalf("sweep: %v\nreport %+v", err, rep)
	}
	l.throttled.Reset()

	if got, want := ids(rep.Deleted), sorted(l.available, l.onStopped, l.stuck, l.detaching); !slices.Equal(got, want) {
		t.Errorf("deleted %v, want %v", got, want)
	}
	if got, want := ids(rep.Detached), sorted(l.onStopped, l.stuck); !slices.Equal(got, want) {
		t.Errorf("detached %v, want %v", got, want)
	}
	for _, d := range rep.Detached {
		if d.Forced != (d.ID == l.stuck) {
			t.Errorf("detach of %s forced=%v; only the one stuck on the failed host needs force", d.ID, d.Forced)
		}
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0].ID != l.stoppedPrimary || !strings.Contains(rep.Skipped[0].Reason, "primary ENI") {
		t.Errorf("skipped %+v, want the stopped node's primary %s as primary", rep.Skipped, l.stoppedPrimary)
	}
	left := l.enis()
	for _, id := range []string{l.foreign, l.stoppedPrimary} {
		if _, ok := left[id]; !ok {
			t.Errorf("ENI %s is gone; the sweep must not touch it", id)
		}
	}
	if e := left[l.stoppedPrimary]; e.InstanceID != l.stoppedNode || e.Status != "in-use" {
		t.Errorf("stopped node's primary %+v: want still attached to %s", e, l.stoppedNode)
	}
	if _, err := l.ec2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(l.podSubnet)}); err != nil {
		t.Fatalf("DeleteSubnet after the sweep: %v", err)
	}
	if st := l.throttled.Get(); st.ThrottleRatio != 0 {
		t.Fatal("faults not reset")
	}
}

// TestSweepDryRunChangesNothing: a dry run reports what a sweep would do
// and leaves every ENI as it was.
func TestSweepDryRunChangesNothing(t *testing.T) {
	// Detaches take longer than the test: nothing changes by itself.
	l := newLeftovers(t, time.Hour)
	before := l.enis()
	rep, err := Sweep(context.Background(), l.ec2, SweepOptions{Cluster: sweepCluster, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.DryRun {
		t.Error("report does not say it is a dry run")
	}
	if got, want := ids(rep.Deleted), sorted(l.available); !slices.Equal(got, want) {
		t.Errorf("would delete %v, want %v", got, want)
	}
	if got, want := ids(rep.Detached), sorted(l.onStopped); !slices.Equal(got, want) {
		t.Errorf("would detach %v, want %v", got, want)
	}
	// The stuck and the detaching ENI wait for StuckAfter (or EC2) first.
	if got, want := ids(rep.Left), sorted(l.stuck, l.detaching); !slices.Equal(got, want) {
		t.Errorf("would wait for %v, want %v", got, want)
	}
	after := l.enis()
	if len(after) != len(before) {
		t.Fatalf("dry run changed the ENIs: %d before, %d after", len(before), len(after))
	}
	for id, b := range before {
		if a := after[id]; a.Status != b.Status || a.AttachmentID != b.AttachmentID {
			t.Errorf("dry run changed %s: %s/%s -> %s/%s", id, b.Status, b.AttachmentID, a.Status, a.AttachmentID)
		}
	}
}

// stopAfterLooks cancels the sweep's context once it has looked at EC2
// looks times, so a test ends it after complete passes, whatever the load.
type stopAfterLooks struct {
	*ec2.Client
	looks  int
	cancel context.CancelFunc
}

func (s *stopAfterLooks) DescribeNetworkInterfaces(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput, opts ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error) {
	if s.looks--; s.looks < 0 {
		s.cancel()
		return nil, context.Cause(ctx)
	}
	return s.Client.DescribeNetworkInterfaces(ctx, in, opts...)
}

// TestSweepStopsNamingWhatIsLeft: a sweep ended while a detach is still
// under way (by its timeout or its caller) returns an error naming the ENI
// and lists it as left.
func TestSweepStopsNamingWhatIsLeft(t *testing.T) {
	l := newLeftovers(t, time.Hour) // the stopped instance's ENI stays detaching
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api := &stopAfterLooks{Client: l.ec2, looks: 3, cancel: cancel}
	rep, err := Sweep(ctx, api, SweepOptions{Cluster: sweepCluster, StuckAfter: time.Hour, Poll: 10 * time.Millisecond})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), l.onStopped) || !strings.Contains(err.Error(), "still in their subnets") {
		t.Fatalf("sweep stopped with a detach under way: %v, want an error naming %s", err, l.onStopped)
	}
	if !slices.Contains(ids(rep.Left), l.onStopped) {
		t.Errorf("left %v lacks %s", ids(rep.Left), l.onStopped)
	}
}

func TestSweepDecision(t *testing.T) {
	const stuckAfter = 30 * time.Second
	att := func(status string, dev int) ENI {
		return ENI{ID: "eni-1", Status: status, AttachmentID: "attach-1", InstanceID: "i-1", DeviceIndex: dev}
	}
	for _, tc := range []struct {
		name     string
		e        ENI
		inst     string
		held     time.Duration
		detached bool
		forced   bool
		want     sweepAction
	}{
		{"available", ENI{ID: "eni-1", Status: "available"}, "", 0, false, false, sweepDelete},
		{"primary of a terminated instance", att("in-use", 0), "terminated", time.Hour, false, false, sweepSkip},
		{"running instance", att("in-use", 1), "running", time.Hour, false, false, sweepSkip},
		{"pending instance", att("in-use", 1), "pending", 0, false, false, sweepSkip},
		{"stopped instance", att("in-use", 1), "stopped", 0, false, false, sweepDetach},
		{"stopped, detach asked, Describe lags", att("in-use", 1), "stopped", time.Second, true, false, sweepWait},
		{"stopped, detach held up", att("detaching", 1), "stopped", stuckAfter, true, false, sweepForceDetach},
		{"terminated, fresh", att("in-use", 1), "terminated", time.Second, false, false, sweepWait},
		{"terminated, stuck", att("in-use", 1), "terminated", stuckAfter, false, false, sweepForceDetach},
		{"instance gone, stuck", att("in-use", 1), "", stuckAfter, false, false, sweepForceDetach},
		{"forced already", att("detaching", 1), "terminated", time.Hour, true, true, sweepWait},
		{"shutting down", att("in-use", 1), "shutting-down", time.Hour, false, false, sweepWait},
		{"detaching, fresh", att("detaching", 1), "terminated", time.Second, false, false, sweepWait},
	} {
		got, why := sweepDecision(tc.e, tc.inst, tc.held, stuckAfter, tc.detached, tc.forced)
		if got != tc.want {
			t.Errorf("%s: action %d (%s), want %d", tc.name, got, why, tc.want)
		}
		if (got == sweepSkip || got == sweepForceDetach) && why == "" {
			t.Errorf("%s: no reason given", tc.name)
		}
	}
}

func TestSweepRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		o    SweepOptions
		want string
	}{
		{SweepOptions{}, "sweep: cluster: required"},
		{SweepOptions{Cluster: "c", Timeout: -time.Second}, "sweep: timeout -1s: must not be negative"},
		{SweepOptions{Cluster: "c", StuckAfter: -time.Second}, "sweep: stuck-after -1s: must not be negative"},
	} {
		if _, err := Sweep(context.Background(), nil, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}
