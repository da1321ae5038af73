package simcluster

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/eksnet/eksnet/sim"
)

// Latency summarises durations by nearest-rank percentiles.
type Latency struct {
	Count int           `json:"count"`
	P50   time.Duration `json:"p50"`
	P90   time.Duration `json:"p90"`
	P99   time.Duration `json:"p99"`
	Max   time.Duration `json:"max"`
}

// Summarize computes the percentiles of d; the zero Latency for none.
func Summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return Latency{Count: len(s), P50: Percentile(s, 0.50), P90: Percentile(s, 0.90), P99: Percentile(s, 0.99), Max: s[len(s)-1]}
}

// Percentile is the nearest-rank q-quantile (0 < q <= 1) of sorted.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// EC2Calls is what the nodes asked of the simulated EC2 API.
type EC2Calls struct {
	// Total counts every EC2 call, failed ones included.
	Total int `json:"total"`
	// ByAction counts calls per EC2 action.
	ByAction map[string]int `json:"byAction"`
	// Errors counts failed calls per "Action: Code".
	Errors map[string]int `json:"errors,omitempty"`
}

// EC2CallsOf keeps the EC2 actions of the fakes' counters; IMDS requests
// ("GET /latest/...", "PUT /latest/api/token") are not EC2 calls.
func EC2CallsOf(st sim.CallStats) EC2Calls {
	out := EC2Calls{ByAction: map[string]int{}}
	for action, n := range st.ByAction {
		if !isEC2Action(action) {
			continue
		}
		out.ByAction[action] = n
		out.Total += n
		for code, m := range st.ByActionCode[action] {
			if code == "" {
				continue
			}
			if out.Errors == nil {
				out.Errors = map[string]int{}
			}
			out.Errors[action+": "+code] += m
		}
	}
	return out
}

// isEC2Action tells EC2 query actions (CamelCase words) from IMDS paths.
func isEC2Action(action string) bool {
	return action != "" && !strings.ContainsAny(action, " /")
}

// Since is the calls made after before was taken, per action.
func (c EC2Calls) Since(before EC2Calls) EC2Calls {
	out := EC2Calls{ByAction: map[string]int{}}
	for a, n := range c.ByAction {
		if d := n - before.ByAction[a]; d > 0 {
			out.ByAction[a] = d
			out.Total += d
		}
	}
	for k, n := range c.Errors {
		if d := n - before.Errors[k]; d > 0 {
			if out.Errors == nil {
				out.Errors = map[string]int{}
			}
			out.Errors[k] = d
		}
	}
	return out
}

// Actions returns the actions in name order, for stable printing.
func (c EC2Calls) Actions() []string { return slices.Sorted(maps.Keys(c.ByAction)) }

// EC2CallsFrom counts the EC2 calls in the fakes' call log per caller
// address (a node's agent calls from the node's primary IP). The log keeps
// the latest calls only (10,000 by default), so for long runs the counts
// cover the most recent calls.
func EC2CallsFrom(st sim.CallStats) map[netip.Addr]int {
	out := map[netip.Addr]int{}
	for _, c := range st.Log {
		if c.Service != "ec2" {
			continue
		}
		ap, err := netip.ParseAddrPort(c.Source)
		if err != nil {
			continue
		}
		out[ap.Addr()]++
	}
	return out
}
