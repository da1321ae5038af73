package e2e

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/sim/simcluster"
)

// BenchmarkPluginAddDel measures what kubelet waits for per pod: exec of the
// installed plugin in the node, the agent's allocation from a warm pool, and
// the wiring; then the DEL of every pod. b.N pods go onto one t3.medium in
// prefix mode (at most 109), pre-warmed so no EC2 call is on the measured
// path. Run it as
//
//	go test -run '^$' -bench PluginAddDel -benchtime 100x ./cni-agent/e2e
//
// It reports ADD and DEL latency percentiles (ms) as custom metrics and logs
// them as a table.
func BenchmarkPluginAddDel(b *testing.B) {
	if b.N > 109 {
		b.Skipf("a t3.medium holds 109 pods; asked for %d", b.N)
	}
	ctx := context.Background()
	c := newCluster(b)
	n := startNode(b, c, "bench", "t3.medium", "", map[string]string{
		"EKSNET_MODE": "prefix", "EKSNET_MINIMUM_IP_TARGET": strconv.Itoa(b.N),
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := n.Status(ctx)
		if err == nil && st.Free >= b.N {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("warm pool never reached %d free addresses: %+v %v", b.N, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	pods := make([]*simcluster.Pod, 0, b.N)
	adds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		p := newPod(b, n, fmt.Sprintf("b%d", i))
		b.StartTimer()
		took, err := n.Add(ctx, p)
		if err != nil {
			b.Fatalf("ADD %d: %v", i, err)
		}
		adds = append(adds, took)
		pods = append(pods, p)
	}
	dels := make([]time.Duration, 0, b.N)
	for _, p := range pods {
		took, err := n.Del(ctx, p)
		if err != nil {
			b.Fatalf("DEL %s: %v", p.Name, err)
		}
		dels = append(dels, took)
	}
	b.StopTimer()
	if _, err := n.Allocation(ctx, pods[0]); rpc.CodeOf(err) != rpc.CodeNotFound {
		b.Fatalf("after DEL the agent still holds the first pod: %v", err)
	}
	for _, s := range []struct {
		name string
		d    []time.Duration
	}{{"add", adds}, {"del", dels}} {
		l := simcluster.Summarize(s.d)
		b.ReportMetric(ms(l.P50), s.name+"-p50-ms")
		b.ReportMetric(ms(l.P90), s.name+"-p90-ms")
		b.ReportMetric(ms(l.P99), s.name+"-p99-ms")
		b.Logf("%s over %d pods: p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms",
			s.name, l.Count, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
