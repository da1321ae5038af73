package maxpods

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// testdata/eni-max-pods.txt is the EKS AMI's published per-type max pods,
// byte for byte: templates/shared/runtime/eni-max-pods.txt in
// awslabs/amazon-eks-ami at commit 2377b69aaeb8d751af1a265c2bfbeb94e6f6da90
// (2026-02-27, "chore: update eni-max-pods.txt"), the file's last version
// before it was deleted upstream in 72b60466 when AL2 support went.
const eniMaxPodsFile = "testdata/eni-max-pods.txt"

// readENIMaxPods parses "TYPE N" lines, skipping comments.
func readENIMaxPods(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		n, err := strconv.Atoi(fields[len(fields)-1])
		if len(fields) != 2 || err != nil {
			t.Fatalf("%s: line %q: want TYPE N", path, line)
		}
		out[fields[0]] = n
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAgainstEKSAMIENIMaxPods: for every type of our table that the EKS
// AMI's eni-max-pods.txt lists, our calculator in aws-vpc-cni mode
// (secondary IPs, + 2 host-network pods, uncapped, default card only)
// gives the AMI's value. The values come from EC2 through AWS's own
// generator, not from our table's eni_max_pods column.
func TestAgainstEKSAMIENIMaxPods(t *testing.T) {
	path := eniMaxPodsFile
	published := readENIMaxPods(t, path)
	if len(published) < 1000 {
		t.Fatalf("%s lists %d types, want the full file (>= 1000)", path, len(published))
	}
	tbl := Default()
	compared, mismatched := 0, 0
	for _, name := range tbl.names {
		want, ok := published[name]
		if !ok {
			continue
		}
		compared++
		r, err := tbl.Calculate(name, Options{Uncapped: true})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if r.MaxPods != want {
			mismatched++
			t.Errorf("%s: ours %d (%d ENIs x (%d IPs - 1) + %d), EKS AMI %d", name, r.MaxPods, r.ENIs, r.IPsPerENI, r.HostNetworkPods, want)
		}
	}
	t.Logf("compared %d types of %d in our table with %s: %d differ", compared, tbl.Len(), path, mismatched)
	if compared < 1000 {
		t.Errorf("only %d of our types are in %s, want >= 1000: wrong file?", compared, path)
	}
}

// TestHandCheckedMaxPods are values worked out by hand from EC2's
// published limits (ENIs and IPv4 per ENI per type, docs.aws.amazon.com
// AvailableIpPerENI) and AWS's max-pods formula, across families and
// hypervisors, with neither the table's eni_max_pods column nor the
// calculator's code in the loop.
func TestHandCheckedMaxPods(t *testing.T) {
	tests := []struct {
		name, it string
		o        Options
		want     int
	}{
		// t3.medium: 3 ENIs x 6 IPs: 3*(6-1)+2 = 17; PD: 3*(5*16)+2 = 242, capped at 110 (2 vCPUs).
		{"t3.medium secondary", "t3.medium", Options{}, 17},
		{"t3.medium PD capped", "t3.medium", Options{PrefixDelegation: true}, 110},
		{"t3.medium PD raw", "t3.medium", Options{PrefixDelegation: true, Uncapped: true}, 242},
		// m5.large: 3 ENIs x 10 IPs: 3*9+2 = 29.
		{"m5.large", "m5.large", Options{}, 29},
		// c5.18xlarge: 15 ENIs x 50 IPs: 15*49+2 = 737 raw; 72 vCPUs caps at 250.
		{"c5.18xlarge raw", "c5.18xlarge", Options{Uncapped: true}, 737},
		{"c5.18xlarge capped", "c5.18xlarge", Options{}, 250},
		// p5.48xlarge: 32 network cards; the default card has 2 ENIs x 50 IPs: 2*49+2 = 100.
		{"p5.48xlarge default card", "p5.48xlarge", Options{Uncapped: true}, 100},
		// m6i.metal, bare metal: 15 ENIs x 50 IPs = 737 raw; PD allowed: 15*49*16+2 = 11762.
		{"m6i.metal raw", "m6i.metal", Options{Uncapped: true}, 737},
		{"m6i.metal PD raw", "m6i.metal", Options{PrefixDelegation: true, Uncapped: true}, 11762},
		// t3.nano: 2 ENIs x 2 IPs: 2*1+2 = 4; PD 2*16+2 = 34.
		{"t3.nano", "t3.nano", Options{}, 4},
		{"t3.nano PD", "t3.nano", Options{PrefixDelegation: true}, 34},
		// m4.large (Xen): 2 ENIs x 10 IPs: 2*9+2 = 20.
		{"m4.large xen", "m4.large", Options{}, 20},
		// t3.medium custom networking: primary ENI hosts no pods: 2*5+2 = 12.
		{"t3.medium custom networking", "t3.medium", Options{CustomNetworking: true}, 12},
	}
	for _, tt := range tests {
		r, err := Calculate(tt.it, tt.o)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if r.MaxPods != tt.want {
			t.Errorf("%s: max pods %d, want %d (worked by hand)", tt.name, r.MaxPods, tt.want)
		}
	}
	// Xen types cannot take prefixes: asking is an error, not a fallback.
	for _, it := range []string{"m4.large", "c4.large", "r3.large"} {
		if _, err := Calculate(it, Options{PrefixDelegation: true}); !errors.Is(err, ErrPrefixDelegationUnsupported) {
			t.Errorf("%s with prefix delegation: %v, want ErrPrefixDelegationUnsupported", it, err)
		}
	}
}
