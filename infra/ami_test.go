package infra_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/infra"
	"github.com/eksnet/eksnet/internal/stacktest"
	"github.com/eksnet/eksnet/stacks"
)

// TestAMIParametersAsAWSDocuments is judged by the SSM parameter names the
// Amazon EKS User Guide documents (testdata/eks-ami-ssm/parameters.tsv,
// sources in its header): every documented path is the one we read, and
// where AWS publishes no AMI (AL2 from 1.33 on) both the parameter lookup
// and stack validation refuse, naming the os field.
func TestAMIParametersAsAWSDocuments(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "eks-ami-ssm", "parameters.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		col := strings.Split(line, "\t")
		if len(col) != 4 {
			t.Fatalf("parameters.tsv: %q: want 4 tab-separated columns", line)
		}
		osName, arch, version, want := col[0], col[1], col[2], col[3]
		rows++
		got, err := infra.AMIParameter(version, osName, arch)
		cfg, perr := stacks.Preset(stacks.PresetDev, "dev", "us-west-2")
		if perr != nil {
			t.Fatal(perr)
		}
		cfg.KubernetesVersion = version
		cfg.CNI.Mode = stacks.CNIAWSVPC // bottlerocket runs no agent
		cfg.NodeGroups[0].OS = osName
		if arch == "arm64" {
			cfg.NodeGroups[0].InstanceTypes = []string{"m6g.large"}
		}
		verr := cfg.Validate()
		if want == "-" {
			if err == nil {
				t.Errorf("%s %s %s: AWS publishes no AMI, AMIParameter = %q", osName, arch, version, got)
			}
			if verr == nil || !strings.Contains(verr.Error(), "eksnet:nodeGroups[0].os "+osName) {
				t.Errorf("%s %s %s: AWS publishes no AMI, Validate() = %v", osName, arch, version, verr)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%s %s %s: AMIParameter = %q, %v; AWS documents %s", osName, arch, version, got, err, want)
		}
		if verr != nil {
			t.Errorf("%s %s %s: AWS publishes an AMI but Validate() = %v", osName, arch, version, verr)
		}
	}
	if err := sc.Err(); err != nil || rows < 10 {
		t.Fatalf("parameters.tsv: %d rows, %v", rows, err)
	}
}

// TestUpdateUsesOnlyPinnedAMIs: a real update (not a preview) of a node
// group without eksnet:nodeGroups[i].amiId stops before registering
// anything and names the command that pins it; a pinned one launches that
// AMI and never reads the floating SSM parameter, so an AWS release rolls
// nothing unasked.
func TestUpdateUsesOnlyPinnedAMIs(t *testing.T) {
	config := map[string]string{
		"aws:region": "us-east-1", "eksnet:preset": "dev",
		"eksnet:cni":     `{"mode":"aws-vpc-cni"}`,
		"eksnet:cluster": `{"publicAccessCidrs":["` + stacktest.CIDR + `"]}`,
		"eksnet:addons":  `{"demoAllowedCidrs":["` + stacktest.CIDR + `"],"demoImage":"` + stacktest.DemoImage + `"}`,
	}
	m, err := runProgramMode(t, "dev", config, false)
	if err == nil || !strings.Contains(err.Error(), "eksnet:nodeGroups[0].amiId (node group general): not pinned") || !strings.Contains(err.Error(), "`eksnet ami update dev`") {
		t.Fatalf("update with an unpinned AMI: %v", err)
	}
	if len(m.Registrations()) != 0 {
		t.Error("resources registered before the refusal")
	}
	config["eksnet:nodeGroups"] = `[{"amiId":"` + stacktest.AMI(0) + `"}]`
	if m, err = runProgramMode(t, "dev", config, false); err != nil {
		t.Fatalf("update with the AMI pinned: %v", err)
	}
	lts := m.ByType(tLT)
	if len(lts) != 1 || str(lts[0].Inputs["imageId"]) != stacktest.AMI(0) {
		t.Errorf("launch templates %v, want one with the pinned AMI %s", lts, stacktest.AMI(0))
	}
	for _, c := range m.Calls() {
		if strings.HasPrefix(c.Token, "aws:ssm/") {
			t.Errorf("update read %s %v", c.Token, c.Args)
		}
	}
}
