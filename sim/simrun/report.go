package simrun

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eksnet/eksnet/sim/simcluster"
)

// Report is what a run found. OK is true only when every check passed.
type Report struct {
	Stack string `json:"stack"`
	// SimName prefixes every namespace of the run.
	SimName string       `json:"simName"`
	VPCCIDR string       `json:"vpcCidr"`
	Subnets []Subnet     `json:"subnets"`
	Groups  []GroupPlan  `json:"nodeGroups"`
	Nodes   []NodeReport `json:"nodes"`
	Checks  []Check      `json:"checks"`
	// EC2Calls are the calls the agents made to the simulated EC2 API.
	EC2Calls simcluster.EC2Calls `json:"ec2Calls"`
	// AddLatency is over every successful ADD exec (retries not counted).
	AddLatency LatencyMS `json:"addLatencyMs"`
	// AddRetries counts ADDs answered "try again later" (pool catching up).
	AddRetries int     `json:"addRetries"`
	Seconds    float64 `json:"seconds"`
	OK         bool    `json:"ok"`
	// Kept is true when the cluster was left up (--keep).
	Kept bool `json:"kept"`
	// Kubernetes is set when the run had the Kubernetes layer.
	Kubernetes *KubeReport `json:"kubernetes,omitempty"`
	// Kubeconfig is the cluster-admin kubeconfig (Kubernetes layer only;
	// valid while the cluster is up).
	Kubeconfig string `json:"kubeconfig,omitempty"`
}

// KubeReport is the Kubernetes layer's part of the report.
type KubeReport struct {
	KubernetesVersion string `json:"kubernetesVersion"`
	ContainerdVersion string `json:"containerdVersion"`
	// PodStart is pod start latency per phase of the run, eksnet's and the
	// reference plugins' on the same nodes.
	PodStart []PodStartRow `json:"podStart"`
}

// PodStartRow is the start latency of one phase's pods: from a pod first
// seen by the API to first seen Running, by polls every 250 ms.
type PodStartRow struct {
	Phase   string    `json:"phase"`
	CNI     string    `json:"cni"`
	Latency LatencyMS `json:"latencyMs"`
}

// NodeReport is one simulated node.
type NodeReport struct {
	NodePlan
	InstanceID string `json:"instanceId"`
	PrimaryIP  string `json:"primaryIp"`
	// AgentEnvSource says where the agent's settings came from.
	AgentEnvSource string `json:"agentEnvSource"`
	// ReadySeconds is from agent start to the conflist.
	ReadySeconds float64 `json:"readySeconds"`
	// Promised is the pod addresses max pods promises (max pods less
	// kube-proxy and the user's host-network DaemonSets).
	Promised int `json:"promised"`
	// AgentCapacity is what the agent says it may hand out.
	AgentCapacity int `json:"agentCapacity"`
	// Wired counts pods whose ADD succeeded.
	Wired int `json:"wired"`
	// ENIs is how many ENIs the node ended with, the primary included.
	ENIs int `json:"enis"`
	// EC2Calls is how many EC2 calls its agent made.
	EC2Calls int `json:"ec2Calls"`
	// Error is why the node stopped short, if it did.
	Error string `json:"error,omitempty"`
	// Kube is what Kubernetes showed of the node (Kubernetes layer only).
	Kube *KubeNodeReport `json:"kube,omitempty"`
}

// Check is one verdict.
type Check struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Skipped bool   `json:"skipped,omitempty"`
	Detail  string `json:"detail"`
}

// LatencyMS is a latency summary in milliseconds, for people and JSON.
type LatencyMS struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

func latencyMS(l simcluster.Latency) LatencyMS {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return LatencyMS{Count: l.Count, P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), Max: ms(l.Max)}
}

// Failed returns the checks that failed.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK && !c.Skipped {
			out = append(out, c)
		}
	}
	return out
}

func (r *Report) add(c Check) {
	r.Checks = append(r.Checks, c)
	r.OK = len(r.Failed()) == 0
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people: nodes, checks, EC2 calls, latency.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "eksnet sim run: stack %s, VPC %s, simulation %s\n\n", r.Stack, r.VPCCIDR, r.SimName)
	for _, g := range r.Groups {
		fmt.Fprintf(&b, "node group %s: max pods %d (%d pod addresses + %d host-network), %d of %d desired nodes simulated, %d pods each\n",
			g.Name, g.MaxPods, g.Promised, g.HostNetworkPods, g.Simulated, g.Desired, g.Target)
		if len(g.AgentEnv) > 0 {
			var kv []string
			for _, k := range slices.Sorted(maps.Keys(g.AgentEnv)) {
				kv = append(kv, k+"="+g.AgentEnv[k])
			}
			fmt.Fprintf(&b, "  agent settings (%s): %s\n", g.AgentEnvSource, strings.Join(kv, " "))
		}
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	if r.Kubernetes != nil {
		fmt.Fprintf(&b, "Kubernetes %s, containerd %s; kubectl --kubeconfig %s (while the cluster is up)\n", r.Kubernetes.KubernetesVersion, r.Kubernetes.ContainerdVersion, r.Kubeconfig)
		fmt.Fprintln(tw, "NODE\tGROUP\tTYPE\tAZ\tIP\tBOOT TO READY\tMAX PODS\tHOST-NETWORK\tRUNNING/PROMISED\tEC2 CALLS")
		for _, n := range r.Nodes {
			k := n.Kube
			if k == nil {
				k = &KubeNodeReport{}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1fs\t%d\t%d\t%d/%d\t%d\n", n.Name, n.Group, n.InstanceType, n.AZ, n.PrimaryIP,
				k.BootToReadySeconds, k.MaxPods, len(k.HostNetworkPods), k.Running, k.Expected, n.EC2Calls)
		}
	} else {
		fmt.Fprintln(tw, "NODE\tGROUP\tTYPE\tAZ\tIP\tREADY\tPODS WIRED\tPROMISED\tAGENT CAP\tENIS\tEC2 CALLS")
		for _, n := range r.Nodes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1fs\t%d/%d\t%d\t%d\t%d\t%d\n", n.Name, n.Group, n.InstanceType, n.AZ, n.PrimaryIP,
				n.ReadySeconds, n.Wired, n.Target, n.Promised, n.AgentCapacity, n.ENIs, n.EC2Calls)
		}
	}
	tw.Flush()
	b.WriteString("\nchecks:\n")
	for _, c := range r.Checks {
		mark := "PASS"
		switch {
		case c.Skipped:
			mark = "SKIP"
		case !c.OK:
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  %s  %s: %s\n", mark, c.Name, c.Detail)
	}
	fmt.Fprintf(&b, "\nEC2 calls: %d", r.EC2Calls.Total)
	var parts []string
	for _, a := range r.EC2Calls.Actions() {
		parts = append(parts, fmt.Sprintf("%s %d", a, r.EC2Calls.ByAction[a]))
	}
	if len(parts) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	b.WriteString("\n")
	for k, n := range r.EC2Calls.Errors {
		fmt.Fprintf(&b, "  failed: %s x%d\n", k, n)
	}
	if k := r.Kubernetes; k != nil {
		b.WriteString("\npod start latency (API first sees the pod -> Running, 250 ms polls):\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  CNI\tPHASE\tPODS\tP50\tP99\tMAX")
		for _, row := range k.PodStart {
			l := row.Latency
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%.0f ms\t%.0f ms\t%.0f ms\n", row.CNI, row.Phase, l.Count, l.P50, l.P99, l.Max)
		}
		tw.Flush()
	} else {
		fmt.Fprintf(&b, "ADD latency over %d pods: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (%d retries while the warm pool caught up)\n",
			r.AddLatency.Count, r.AddLatency.P50, r.AddLatency.P90, r.AddLatency.P99, r.AddLatency.Max, r.AddRetries)
	}
	verdict := "PASSED"
	if !r.OK {
		verdict = fmt.Sprintf("FAILED (%d of %d checks)", len(r.Failed()), len(r.Checks))
	}
	fmt.Fprintf(&b, "\n%s in %.1fs\n", verdict, r.Seconds)
	_, err := io.WriteString(w, b.String())
	return err
}
