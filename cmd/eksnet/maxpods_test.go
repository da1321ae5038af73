package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/internal/cli"
)

// run executes the CLI in-process with captured output.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = runWith(context.Background(), args, &app{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }})
	return out.String(), errOut.String(), err
}

func TestMaxPodsJSONPrefixDelegationGroup(t *testing.T) {
	stdout, _, err := run(t, "maxpods", "t3.medium", "m5.large", "--prefix-delegation", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Types []struct {
			InstanceType string `json:"instanceType"`
			MaxPods      int    `json:"maxPods"`
			Uncapped     int    `json:"uncapped"`
			ENIs         int    `json:"enis"`
			IPsPerENI    int    `json:"ipsPerENI"`
			VCPUs        int    `json:"vcpus"`
			Mode         string `json:"mode"`
			CapReason    string `json:"capReason"`
		} `json:"types"`
		Group *struct {
			MaxPods   int    `json:"maxPods"`
			LimitedBy string `json:"limitedBy"`
		} `json:"group"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	if len(got.Types) != 2 || got.Group == nil || got.Group.MaxPods != 110 {
		t.Fatalf("got %+v, want 2 types and a group of 110", got)
	}
	for i, want := range []struct {
		name     string
		uncapped int
		ips      int
	}{{"t3.medium", 242, 6}, {"m5.large", 434, 10}} {
		r := got.Types[i]
		if r.InstanceType != want.name || r.MaxPods != 110 || r.Uncapped != want.uncapped || r.ENIs != 3 || r.IPsPerENI != want.ips ||
			r.VCPUs != 2 || r.Mode != "prefix-delegation" || !strings.Contains(r.CapReason, "<= 30 vCPUs") {
			t.Errorf("type %d = %+v, want %s: 110 (uncapped %d), prefix-delegation, capped by <= 30 vCPUs", i, r, want.name, want.uncapped)
		}
	}

	single, _, err := run(t, "maxpods", "t3.medium", "-o", "json")
	if err != nil || strings.Contains(single, `"group"`) || !strings.Contains(single, `"maxPods": 17`) {
		t.Errorf("single type JSON = %s (%v), want maxPods 17 and no group", single, err)
	}
}

func TestMaxPodsTable(t *testing.T) {
	stdout, _, err := run(t, "maxpods", "t3.medium", "m5.large", "--custom-networking")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "INSTANCE TYPE") {
		t.Fatalf("table = %q, want header, 2 rows, blank line, group line", stdout)
	}
	if f := strings.Fields(lines[1]); f[0] != "t3.medium" || f[1] != "12" || f[7] != "secondary-ip+custom-networking" {
		t.Errorf("t3.medium row = %q, want 12 pods with custom networking", lines[1])
	}
	if lines[4] != "node group: max pods 12 (limited by t3.medium), kube-reserved memory 387Mi" {
		t.Errorf("group line = %q", lines[4])
	}
}

func TestMaxPodsLimitsForNewTypes(t *testing.T) {
	stdout, _, err := run(t, "maxpods", "m99.large", "--limits", "m99.large=3,10,2,nitro", "--prefix-delegation", "-o", "json")
	if err != nil || !strings.Contains(stdout, `"maxPods": 110`) || !strings.Contains(stdout, `"uncapped": 434`) {
		t.Errorf("maxpods with --limits = %s (%v), want 110 (uncapped 434)", stdout, err)
	}
}

func TestMaxPodsErrorsNameTheFlag(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"maxpods", "t3.mediun"}, []string{"instance type", `"t3.mediun"`, "did you mean t3.medium", "--limits"}},
		{[]string{"maxpods", "m4.large", "--prefix-delegation"}, []string{"--prefix-delegation", "m4.large", "nitro or bare-metal"}},
		{[]string{"maxpods", "t3.medium", "--max-eni", "-1"}, []string{"--max-eni", "-1", "0 (no override) or 1..3"}},
		{[]string{"maxpods", "t3.medium", "--max-eni", "1", "--custom-networking"}, []string{"--max-eni", "2..3"}},
		{[]string{"maxpods", "t3.medium", "--host-network-daemonsets", "-1"}, []string{"--host-network-daemonsets", "-1", "accepted values are 0"}},
		{[]string{"maxpods", "t3.medium", "-o", "yaml"}, []string{"-o/--output", `"yaml"`, "table, json"}},
		{[]string{"maxpods", "x1.new", "--limits", "x1.new=3"}, []string{"--limits", "want 2 to 4"}},
		{[]string{"maxpods", "m5.large", "--limits", "m5.large=3,10"}, []string{"--limits", "already known"}},
		{[]string{"maxpods"}, []string{"missing TYPE"}},
	}
	for _, tt := range tests {
		stdout, _, err := run(t, tt.args...)
		if err == nil {
			t.Errorf("%v: no error, output %q", tt.args, stdout)
			continue
		}
		if code := cli.Status(err); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d (bad usage)", tt.args, code, cli.ExitUsage)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q lacks %q", tt.args, err, w)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	stdout, _, err := run(t, "version")
	if err != nil || !strings.HasPrefix(stdout, "eksnet ") || !strings.Contains(stdout, "go1.") {
		t.Errorf("version = %q, %v", stdout, err)
	}
	js, _, err := run(t, "version", "-o", "json")
	var b cli.BuildInfo
	if err != nil || json.Unmarshal([]byte(js), &b) != nil || b.Program != "eksnet" || b.Version == "" || b.Platform == "" {
		t.Errorf("version -o json = %q, %v", js, err)
	}
}

func TestCompletion(t *testing.T) {
	stdout, _, err := run(t, "__complete", "maxpods", "t3.me")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(stdout)
	if len(got) < 2 || got[0] != "t3.medium" || !strings.HasPrefix(got[len(got)-1], ":") {
		t.Errorf("completing t3.me = %q, want t3.medium then the directive", got)
	}
	for _, c := range got[:len(got)-1] {
		if !strings.HasPrefix(c, "t3.me") {
			t.Errorf("completion %q does not start with t3.me", c)
		}
	}
	if _, _, err := run(t, "completion", "bash"); err != nil {
		t.Errorf("completion bash: %v", err)
	}
}
