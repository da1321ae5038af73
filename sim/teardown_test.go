package sim_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/vishvananda/netlink"

	"github.com/eksnet/eksnet/sim"
)

// helperEnv switches the helper tests below on in a child process.
const helperEnv = "EKSNET_SIM_TEST_HELPER"

// buildEverything makes one of each object: node, attached ENI (a veth per
// side), pod namespace, so teardown has all kinds to remove.
func buildEverything(t *testing.T, vpc *sim.VPC) {
	t.Helper()
	n := addNode(t, vpc, sim.NodeSpec{Name: "node-0", InstanceType: "t3.medium"})
	c := ec2From(vpc, n)
	ctx := context.Background()
	e := must(c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(vpc.Cloud().State().Subnets[0].ID)})).ok(t).NetworkInterface
	must(c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: e.NetworkInterfaceId,
		InstanceId: aws.String(n.InstanceID), DeviceIndex: aws.Int32(1)})).ok(t)
	if _, err := vpc.NewPodNamespace("p0"); err != nil {
		t.Fatal(err)
	}
}

// TestHelperFailingTest is run by TestTeardown in a child process: it builds
// a VPC and fails, as a broken test would.
func TestHelperFailingTest(t *testing.T) {
	if os.Getenv(helperEnv) != "fail" {
		t.Skip("helper for TestTeardownAfterFailedTest")
	}
	vpc := newVPC(t, sim.Config{Name: os.Getenv(helperEnv + "_NAME")})
	buildEverything(t, vpc)
	t.Fatal("deliberate failure")
}

// TestHelperKilled builds a VPC and waits to be killed.
func TestHelperKilled(t *testing.T) {
	if os.Getenv(helperEnv) != "kill" {
		t.Skip("helper for TestTeardownAfterKill")
	}
	vpc := newVPC(t, sim.Config{Name: os.Getenv(helperEnv + "_NAME")})
	buildEverything(t, vpc)
	fmt.Println("READY")
	time.Sleep(time.Minute)
}

// TestHelperSDKFromEnv runs inside a node via Node.Command and builds SDK
// clients from nothing but the environment Node.Command set.
func TestHelperSDKFromEnv(t *testing.T) {
	if os.Getenv(helperEnv) != "sdk" {
		t.Skip("helper for TestNodeCommand")
	}
	ctx := context.Background()
	m := imds.New(imds.Options{}) // endpoint from AWS_EC2_METADATA_SERVICE_ENDPOINT
	id, err := getMeta(ctx, m, "instance-id")
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}, nil
	})
	c := ec2.New(ec2.Options{Region: os.Getenv("AWS_REGION"), BaseEndpoint: aws.String(os.Getenv("EKSNET_EC2_ENDPOINT")), Credentials: creds})
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("imds=%s ec2=%s\n", id, aws.ToString(out.Reservations[0].Instances[0].PrivateIpAddress))
}

func rootLinks(t *testing.T) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		out = append(out, l.Attrs().Name)
	}
	slices.Sort(out)
	return out
}

func uniqueName(t *testing.T, tag string) string {
	return fmt.Sprintf("t%s%d", tag, time.Now().UnixNano()%1e9)
}

func child(name, mode, run string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^"+run+"$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperEnv+"_NAME="+name)
	return cmd
}

func TestTeardownAfterFailedTest(t *testing.T) {
	needRoot(t)
	before := rootLinks(t)
	name := uniqueName(t, "f")
	out, err := child(name, "fail", "TestHelperFailingTest").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "deliberate failure") {
		t.Fatalf("helper should have failed deliberately: %v\n%s", err, out)
	}
	if left, _ := sim.Namespaces(name); len(left) > 0 {
		t.Fatalf("namespaces left after a failed test: %v", left)
	}
	if after := rootLinks(t); !slices.Equal(before, after) {
		t.Fatalf("root namespace links changed: before %v, after %v", before, after)
	}
}

func TestTeardownAfterKill(t *testing.T) {
	needRoot(t)
	before := rootLinks(t)
	name := uniqueName(t, "k")
	cmd := child(name, "kill", "TestHelperKilled")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Sweep(name) })
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "READY" {
				ready <- nil
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- fmt.Errorf("helper ended before READY")
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("helper not ready in 30s")
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	left, _ := sim.Namespaces(name)
	for _, want := range []string{name + ".router", name + ".inet", name + ".node.node-0", name + ".pod.p0"} {
		if !slices.Contains(left, want) {
			t.Fatalf("after SIGKILL, want %s left for Sweep to find; have %v", want, left)
		}
	}
	if err := sim.Sweep(name); err != nil {
		t.Fatal(err)
	}
	if left, _ := sim.Namespaces(name); len(left) > 0 {
		t.Fatalf("namespaces left after Sweep: %v", left)
	}
	if after := rootLinks(t); !slices.Equal(before, after) {
		t.Fatalf("root namespace links changed: before %v, after %v", before, after)
	}
}

func TestNodeCommandReachesFakesWithSDKFromEnv(t *testing.T) {
	vpc := newVPC(t, sim.Config{})
	n := addNode(t, vpc, sim.NodeSpec{Name: "node-0", InstanceType: "t3.medium"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := n.Command(ctx, os.Args[0], "-test.run=^TestHelperSDKFromEnv$", "-test.v")
	cmd.Env = append(cmd.Env, helperEnv+"=sdk")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper in node: %v\n%s", err, out)
	}
	want := fmt.Sprintf("imds=%s ec2=%s", n.InstanceID, n.PrimaryIP)
	if !strings.Contains(string(out), want) {
		t.Fatalf("helper output lacks %q:\n%s", want, out)
	}
	for _, kv := range cmd.Env {
		if strings.HasPrefix(kv, "AWS_PROFILE=") {
			t.Fatalf("host AWS variable leaked into the node: %s", kv)
		}
	}
}
