package sim_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/sim"
)

func TestLifecycleErrorsLeaveNothingBehind(t *testing.T) {
	vpc := newVPC(t, sim.Config{})
	ctx := context.Background()
	before, _ := sim.Namespaces(vpc.Name())

	// A second VPC of the same name is refused and does not touch the first.
	if _, err := sim.New(ctx, sim.Config{Name: vpc.Name()}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second New with name %s: %v", vpc.Name(), err)
	}
	if now, _ := sim.Namespaces(vpc.Name()); !slices.Equal(before, now) {
		t.Fatalf("namespaces changed by a refused New: %v -> %v", before, now)
	}

	// A failed AddNode leaves no namespace and no instance.
	for _, spec := range []sim.NodeSpec{
		{Name: "n", InstanceType: "t3.gigantic"},
		{Name: "Bad Name", InstanceType: "t3.medium"},
		{Name: "n", InstanceType: "t3.medium", Subnet: "subnet-nope"},
	} {
		if _, err := vpc.AddNode(ctx, spec); err == nil {
			t.Fatalf("AddNode(%+v) succeeded", spec)
		}
	}
	if now, _ := sim.Namespaces(vpc.Name()); !slices.Equal(before, now) {
		t.Fatalf("namespaces changed by failed AddNodes: %v -> %v", before, now)
	}
	if n := len(vpc.Cloud().State().Instances); n != 0 {
		t.Fatalf("%d instances after failed AddNodes", n)
	}
	addNode(t, vpc, sim.NodeSpec{Name: "n", InstanceType: "t3.medium"})
	if _, err := vpc.AddNode(ctx, sim.NodeSpec{Name: "n", InstanceType: "t3.medium"}); err == nil {
		t.Fatal("duplicate node name accepted")
	}
	if _, ok := vpc.Node("n"); !ok {
		t.Fatal("Node(n) not found")
	}

	// Close twice is fine; nothing works after it.
	if err := vpc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := vpc.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := vpc.NewPodNamespace("late"); err == nil {
		t.Fatal("NewPodNamespace after Close succeeded")
	}
}

// BenchmarkVPCUpTwoNodesDown measures what every agent test pays: a VPC with
// two nodes built and removed.
func BenchmarkVPCUpTwoNodesDown(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: creates network namespaces")
	}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		vpc, err := sim.New(ctx, sim.Config{})
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range []string{"node-0", "node-1"} {
			if _, err := vpc.AddNode(ctx, sim.NodeSpec{Name: n, InstanceType: "t3.medium"}); err != nil {
				b.Fatal(err)
			}
		}
		if err := vpc.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
