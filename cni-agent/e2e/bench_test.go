package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/rpc"
)

// BenchmarkPluginAddDel measures what kubelet waits for per pod: exec of the
// installed plugin in the node, the agent's allocation from a warm pool, and
// the wiring; then the DEL of every pod. b.N pods go onto one t3.medium in
// prefix mode (at most 108), pre-warmed so no EC2 call is on the measured
// path. Run it as
//
//	go test -run '^$' -bench PluginAddDel -benchtime 100x ./cni-agent/e2e
//
// It reports ADD and DEL latency percentiles (ms) as custom metrics and logs
// them as a table.
func BenchmarkPluginAddDel(b *testing.B) {
	if b.N > 108 {
		b.Skipf("a t3.medium holds 108 pods; asked for %d", b.N)
	}
	vpc := newVPC(b)
	n := startNode(b, vpc, "bench", "t3.medium", "", map[string]string{
		"EKSNET_MODE": "prefix", "EKSNET_MINIMUM_IP_TARGET": strconv.Itoa(b.N),
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := n.client.Status(context.Background())
		if err == nil && st.Free >= b.N {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("warm pool never reached %d free addresses: %+v %v", b.N, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	pods := make([]*pod, 0, b.N)
	adds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		p := n.newPod(fmt.Sprintf("b%d", i))
		b.StartTimer()
		took, err := n.add(p)
		if err != nil {
			b.Fatalf("ADD %d: %v", i, err)
		}
		adds = append(adds, took)
		pods = append(pods, p)
	}
	dels := make([]time.Duration, 0, b.N)
	for _, p := range pods {
		took, err := n.del(p)
		if err != nil {
			b.Fatalf("DEL %s: %v", p.name, err)
		}
		dels = append(dels, took)
	}
	b.StopTimer()
	if _, err := n.client.Check(context.Background(), key(pods[0])); rpc.CodeOf(err) != rpc.CodeNotFound {
		b.Fatalf("after DEL the agent still holds the first pod: %v", err)
	}
	for _, s := range []struct {
		name string
		d    []time.Duration
	}{{"add", adds}, {"del", dels}} {
		p := percentiles(s.d)
		b.ReportMetric(ms(p[0]), s.name+"-p50-ms")
		b.ReportMetric(ms(p[1]), s.name+"-p90-ms")
		b.ReportMetric(ms(p[2]), s.name+"-p99-ms")
		b.Logf("%s over %d pods: p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms",
			s.name, len(s.d), ms(p[0]), ms(p[1]), ms(p[2]), ms(p[3]))
	}
}

// percentiles returns p50, p90, p99 and the maximum (nearest rank).
func percentiles(d []time.Duration) [4]time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return [4]time.Duration{at(0.50), at(0.90), at(0.99), s[len(s)-1]}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if got := percentiles(d); got != [4]time.Duration{50 * time.Millisecond, 90 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond} {
		t.Fatalf("percentiles = %v", got)
	}
	if got := percentiles([]time.Duration{7}); got != [4]time.Duration{7, 7, 7, 7} {
		t.Fatalf("one sample: %v", got)
	}
}
