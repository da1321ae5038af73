package reliability

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/eksnet/eksnet/bootstrap/maxpods"
	"github.com/eksnet/eksnet/bootstrap/userdata"
	"github.com/eksnet/eksnet/sim"
	"github.com/eksnet/eksnet/sim/fakeec2"
)

// TestAgentOnATypeNewerThanTheTable: a node whose instance type the
// embedded table lacks (m9.large, limits given as `eksnet userdata --limits`
// takes them) starts, sizes its pool from the limits user data wrote to
// agent.env, and wires pods; without those limits it refuses to start and
// says which setting gives them.
func TestAgentOnATypeNewerThanTheTable(t *testing.T) {
	const spec = "m9.large=3,10,2,nitro"
	it, err := maxpods.ParseLimits(spec)
	if err != nil {
		t.Fatal(err)
	}
	table, err := maxpods.Default().With(it)
	if err != nil {
		t.Fatal(err)
	}
	want, err := table.Calculate(it.Name, maxpods.Options{HostNetwork: maxpods.HostNetwork{Agent: true}})
	if err != nil {
		t.Fatal(err)
	}
	// The simulated EC2 knows m9.large, as the real one would.
	c := newClusterVPC(t, sim.Config{
		Subnets: []sim.SubnetConfig{{AZ: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.16.0/20")}},
		Limits: func(typ string) (fakeec2.Limits, error) {
			if typ == it.Name {
				return fakeec2.Limits{MaxENIs: it.MaxENIs, IPv4PerENI: it.IPv4PerENI, PrefixDelegation: true}, nil
			}
			return sim.TableLimits(typ)
		},
	})
	// agent.env as user data writes it for this node group.
	env := map[string]string{}
	for _, line := range userdata.AgentEnv(userdata.Config{ClusterName: "prod", MaxPods: want.MaxPods,
		Agent: userdata.AgentConfig{InstanceLimits: []maxpods.InstanceType{it}}}) {
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
	}
	if env["EKSNET_INSTANCE_LIMITS"] != spec {
		t.Fatalf("agent.env EKSNET_INSTANCE_LIMITS = %q, want %q", env["EKSNET_INSTANCE_LIMITS"], spec)
	}

	t.Run("without the limits", func(t *testing.T) {
		bare := map[string]string{}
		for k, v := range env {
			if k != "EKSNET_INSTANCE_LIMITS" {
				bare[k] = v
			}
		}
		n := addNode(t, c, "bare", it.Name, bare)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for n.Running() && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
		const msg = `instance type m9.large (from IMDS): unknown instance type "m9.large"`
		const hint = "give its limits with --instance-limits (EKSNET_INSTANCE_LIMITS) " + maxpods.LimitsSyntax
		if log := n.LogTail(20); n.Running() || !strings.Contains(log, msg) || !strings.Contains(log, hint) {
			t.Errorf("agent without limits: running = %v; want it to exit saying %q and %q; log tail:\n%s", n.Running(), msg, hint, log)
		}
	})

	t.Run("with the limits", func(t *testing.T) {
		n := addNode(t, c, "m9", it.Name, env)
		start(t, n, 60*time.Second)
		st, err := n.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.MaxPods != want.MaxPods || st.Capacity != want.MaxPods-maxpods.AgentHostNetworkPods {
			t.Errorf("status max pods %d, capacity %d; want %d and %d", st.MaxPods, st.Capacity, want.MaxPods, want.MaxPods-maxpods.AgentHostNetworkPods)
		}
		ps := newPods(t, n, "m", want.MaxPods-maxpods.AgentHostNetworkPods)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := storm(ctx, n, ps, 4, nil); err != nil {
			t.Fatal(err)
		}
		checkAddresses(t, n, ps)
		checkReachable(t, ps)
		t.Logf("%s: max pods %d, every pod wired and reachable", spec, want.MaxPods)
	})
}
