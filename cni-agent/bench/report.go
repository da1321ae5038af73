package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/eksnet/eksnet/sim/simcluster"
)

// results are the benchmark's figures.
type results struct {
	runs []run
	// ec2 counts the benchmark agent's EC2 calls from start to the end of
	// the last run.
	ec2             simcluster.EC2Calls
	agentRSSFullKiB int64 // with every pod wired (parallel eksnet run)
	agentRSSEndKiB  int64 // after the last DEL
	fill            fillResult
}

// targets are the goals for eksnet on a 2-core machine.
var targets = struct {
	addRatio, delRatio, tenth float64
	agentRSSMiB, pluginRSSMiB float64
	fillCalls                 int
}{addRatio: 0.25, delRatio: 0.1, tenth: 1.2, agentRSSMiB: 30, pluginRSSMiB: 8, fillCalls: 12}

// tenthRatio is the median ADD latency of the last tenth of the pods over
// that of the first tenth: 1 means ADD does not slow down as the node fills.
func tenthRatio(adds []time.Duration) float64 {
	k := len(adds) / 10
	if k == 0 {
		return 0
	}
	first := simcluster.Summarize(adds[:k]).P50
	last := simcluster.Summarize(adds[len(adds)-k:]).P50
	if first == 0 {
		return 0
	}
	return float64(last) / float64(first)
}

// podsPerSecond is pods over the wall time of a run's ADDs.
func podsPerSecond(n int, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return float64(n) / wall.Seconds()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// key is a RESULT key for a run: eksnet_serial, ptp_par8.
func (r run) key() string {
	if r.parallel == 1 {
		return r.plugin + "_serial"
	}
	return r.plugin + "_par" + strconv.Itoa(r.parallel)
}

// metrics are a run's figures as ordered key=value pairs.
func (r run) metrics() [][2]string {
	a, d := simcluster.Summarize(r.adds), simcluster.Summarize(r.dels)
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	return [][2]string{
		{"add_p50_ms", f(ms(a.P50))}, {"add_p90_ms", f(ms(a.P90))}, {"add_p99_ms", f(ms(a.P99))}, {"add_max_ms", f(ms(a.Max))},
		{"del_p50_ms", f(ms(d.P50))}, {"del_p90_ms", f(ms(d.P90))}, {"del_p99_ms", f(ms(d.P99))}, {"del_max_ms", f(ms(d.Max))},
		{"add_pods_per_s", f(podsPerSecond(len(r.adds), r.addWall))}, {"del_pods_per_s", f(podsPerSecond(len(r.dels), r.delWall))},
		{"del_until_veths_gone_pods_per_s", f(podsPerSecond(len(r.dels), r.vethsGoneWall))},
		{"add_last_first_tenth", f(tenthRatio(r.adds))},
		{"plugin_peak_rss_mib", f(float64(r.pluginMaxRSSKiB) / 1024)},
	}
}

// ratios compares eksnet with the peer run of the same parallelism.
func ratios(runs []run) [][2]string {
	var out [][2]string
	for _, e := range runs {
		if e.plugin != "eksnet" {
			continue
		}
		for _, p := range runs {
			if p.plugin == "eksnet" || p.parallel != e.parallel {
				continue
			}
			ea, pa := simcluster.Summarize(e.adds), simcluster.Summarize(p.adds)
			ed, pd := simcluster.Summarize(e.dels), simcluster.Summarize(p.dels)
			suffix := strings.TrimPrefix(e.key(), "eksnet")
			out = append(out,
				[2]string{"ratio_add_p50" + suffix, fmt.Sprintf("%.3f", float64(ea.P50)/float64(pa.P50))},
				[2]string{"ratio_del_p50" + suffix, fmt.Sprintf("%.3f", float64(ed.P50)/float64(pd.P50))},
				[2]string{"ratio_add_pods_per_s" + suffix, fmt.Sprintf("%.3f", podsPerSecond(len(e.adds), e.addWall)/podsPerSecond(len(p.adds), p.addWall))},
				// Like for like: both plugins' DEL phases until the last
				// veth is gone (eksnet's includes the agent's deletion).
				[2]string{"ratio_del_until_veths_gone_wall" + suffix, fmt.Sprintf("%.3f", float64(e.vethsGoneWall)/float64(p.vethsGoneWall))})
		}
	}
	return out
}

// print writes the human table, then every figure as RESULT key=value.
func (res *results) print(w io.Writer, o Options) {
	env := o.agentEnv()
	fmt.Fprintf(w, "\neksnet peer benchmark: %d pods on one simulated %s, %d at a time in the parallel runs\n", o.Pods, o.InstanceType, o.Parallel)
	fmt.Fprintf(w, "agent: EKSNET_MODE=%s EKSNET_MAX_PODS=%s EKSNET_MINIMUM_IP_TARGET=%s EKSNET_WARM_PREFIX_TARGET=%s EKSNET_COOLDOWN=%s\n\n",
		env["EKSNET_MODE"], env["EKSNET_MAX_PODS"], env["EKSNET_MINIMUM_IP_TARGET"], env["EKSNET_WARM_PREFIX_TARGET"], env["EKSNET_COOLDOWN"])
	fmt.Fprintf(w, "%-13s %9s %9s %9s %9s   %9s %9s %9s %9s   %8s %8s %9s %6s %8s\n",
		"run", "ADD p50", "p90", "p99", "max", "DEL p50", "p90", "p99", "max", "ADD/s", "DEL/s", "DEL+veth/s", "10th", "RSS MiB")
	for _, r := range res.runs {
		a, d := simcluster.Summarize(r.adds), simcluster.Summarize(r.dels)
		fmt.Fprintf(w, "%-13s %9.2f %9.2f %9.2f %9.2f   %9.2f %9.2f %9.2f %9.2f   %8.1f %8.1f %10.1f %6.2f %8.1f\n",
			r.key(), ms(a.P50), ms(a.P90), ms(a.P99), ms(a.Max), ms(d.P50), ms(d.P90), ms(d.P99), ms(d.Max),
			podsPerSecond(len(r.adds), r.addWall), podsPerSecond(len(r.dels), r.delWall), podsPerSecond(len(r.dels), r.vethsGoneWall),
			tenthRatio(r.adds), float64(r.pluginMaxRSSKiB)/1024)
	}
	fmt.Fprintln(w, "(latencies in ms, DEL's until the plugin exits; DEL+veth/s = pods over the DEL phase until the last pod veth is gone,")
	fmt.Fprintln(w, " eksnet's agent deleting them in the background; 10th = median ADD of the last tenth of pods / of the first tenth; RSS = plugin peak)")
	var all [][2]string
	for _, r := range res.runs {
		for _, kv := range r.metrics() {
			all = append(all, [2]string{r.key() + "_" + kv[0], kv[1]})
		}
	}
	all = append(all, ratios(res.runs)...)
	duringAdds := 0
	for _, r := range res.runs {
		duringAdds += r.ec2DuringAdds
	}
	all = append(all,
		[2]string{"ec2_calls_total", strconv.Itoa(res.ec2.Total)},
		[2]string{"ec2_calls_during_adds", strconv.Itoa(duringAdds)},
		[2]string{"agent_rss_mib_full", fmt.Sprintf("%.1f", float64(res.agentRSSFullKiB)/1024)},
		[2]string{"agent_rss_mib_end", fmt.Sprintf("%.1f", float64(res.agentRSSEndKiB)/1024)})
	for _, a := range res.ec2.Actions() {
		all = append(all, [2]string{"ec2_calls_" + a, strconv.Itoa(res.ec2.ByAction[a])})
	}
	if res.fill.Pods > 0 {
		all = append(all,
			[2]string{"fill_t3medium_prefix_pods", strconv.Itoa(res.fill.MaxPods)},
			[2]string{"fill_t3medium_prefix_ec2_calls", strconv.Itoa(res.fill.Calls.Total)},
			[2]string{"fill_t3medium_prefix_add_retries", strconv.Itoa(res.fill.Retries)})
		for _, a := range res.fill.Calls.Actions() {
			all = append(all, [2]string{"fill_ec2_calls_" + a, strconv.Itoa(res.fill.Calls.ByAction[a])})
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "targets for eksnet:")
	for _, t := range res.verdicts() {
		fmt.Fprintln(w, " ", t)
	}
	fmt.Fprintln(w)
	for _, kv := range all {
		fmt.Fprintf(w, "RESULT %s=%s\n", kv[0], kv[1])
	}
}

// verdicts compares the figures with the targets, one line each.
func (res *results) verdicts() []string {
	var out []string
	mark := func(ok bool) string {
		if ok {
			return "met   "
		}
		return "MISSED"
	}
	for _, kv := range ratios(res.runs) {
		v, _ := strconv.ParseFloat(kv[1], 64)
		switch {
		case strings.HasPrefix(kv[0], "ratio_add_p50"):
			out = append(out, fmt.Sprintf("%s %s = %.3f (target <= %.2f)", mark(v <= targets.addRatio), kv[0], v, targets.addRatio))
		case strings.HasPrefix(kv[0], "ratio_del_p50"):
			out = append(out, fmt.Sprintf("%s %s = %.3f (target <= %.2f; DEL until the plugin exits)", mark(v <= targets.delRatio), kv[0], v, targets.delRatio))
		case strings.HasPrefix(kv[0], "ratio_del_until_veths_gone_wall"):
			out = append(out, fmt.Sprintf("info   %s = %.3f (no target: the DEL phase until the last veth is gone, eksnet / peer)", kv[0], v))
		}
	}
	for _, r := range res.runs {
		if r.plugin != "eksnet" {
			continue
		}
		t := tenthRatio(r.adds)
		out = append(out, fmt.Sprintf("%s %s last/first tenth ADD = %.2f (target <= %.1f)", mark(t <= targets.tenth), r.key(), t, targets.tenth))
		out = append(out, fmt.Sprintf("%s %s EC2 calls during ADDs = %d (target 0)", mark(r.ec2DuringAdds == 0), r.key(), r.ec2DuringAdds))
		rss := float64(r.pluginMaxRSSKiB) / 1024
		out = append(out, fmt.Sprintf("%s %s plugin peak RSS = %.1f MiB (target <= %.0f)", mark(rss <= targets.pluginRSSMiB), r.key(), rss, targets.pluginRSSMiB))
	}
	rss := float64(max(res.agentRSSFullKiB, res.agentRSSEndKiB)) / 1024
	out = append(out, fmt.Sprintf("%s agent RSS = %.1f MiB (target <= %.0f)", mark(rss <= targets.agentRSSMiB), rss, targets.agentRSSMiB))
	if res.fill.Pods > 0 {
		out = append(out, fmt.Sprintf("%s t3.medium prefix fill to %d pods: %d EC2 calls (target <= %d)",
			mark(res.fill.Calls.Total <= targets.fillCalls), res.fill.MaxPods, res.fill.Calls.Total, targets.fillCalls))
	}
	return out
}

// rssKiB reads a process's resident set (VmRSS) from /proc.
func rssKiB(pid int) (int64, error) {
	if pid == 0 {
		return 0, fmt.Errorf("reading the agent's RSS: no agent process")
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the agent's RSS: %w", err)
	}
	defer f.Close()
	return parseVmRSS(f)
}

// parseVmRSS finds "VmRSS: N kB" in a /proc/PID/status.
func parseVmRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS line in /proc status")
}

// writeSamples writes every ADD and DEL latency as tab-separated lines
// (run, command, pod index in start order, milliseconds) under a header:
// the raw series behind the percentiles and the tenth ratio, for plotting.
func (res *results) writeSamples(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "run\tcommand\tpod\tms")
	for _, r := range res.runs {
		for _, s := range []struct {
			command string
			took    []time.Duration
		}{{"ADD", r.adds}, {"DEL", r.dels}} {
			for i, d := range s.took {
				fmt.Fprintf(bw, "%s\t%s\t%d\t%.3f\n", r.key(), s.command, i, ms(d))
			}
		}
	}
	return bw.Flush()
}
