package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeSSM serves SSM's GetParameter (JSON 1.1 protocol) on loopback for the
// parameter names the EKS User Guide documents
// (infra/testdata/eks-ami-ssm/parameters.tsv), each with a made-up AMI;
// any other name is ParameterNotFound, as AWS answers.
type fakeSSM struct {
	mu     sync.Mutex
	values map[string]string
	asked  []string
}

func newFakeSSM(t *testing.T) (*fakeSSM, *httptest.Server) {
	t.Helper()
	f := &fakeSSM{values: map[string]string{}}
	file, err := os.Open(filepath.Join("..", "..", "infra", "testdata", "eks-ami-ssm", "parameters.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for n := 0; sc.Scan(); n++ {
		col := strings.Split(sc.Text(), "\t")
		if len(col) == 4 && col[3] != "-" && !strings.HasPrefix(col[0], "#") {
			f.values[col[3]] = fmt.Sprintf("ami-0%016x", 0xa000+n)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		var in struct{ Name string }
		if r.Header.Get("X-Amz-Target") != "AmazonSSM.GetParameter" || json.NewDecoder(r.Body).Decode(&in) != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"__type":"InvalidAction","message":"fake SSM serves GetParameter only"}`)
			return
		}
		f.mu.Lock()
		f.asked = append(f.asked, in.Name)
		v, ok := f.values[in.Name]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"ParameterNotFound","message":"Parameter %s not found."}`, in.Name)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{"Name": in.Name, "Type": "String", "Value": v, "Version": 7}})
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

// TestAmiUpdatePinsTheDocumentedParameter: eksnet ami update reads, with
// the real aws-sdk-go-v2 SSM client against a fake on loopback, the
// parameter AWS documents for each node group and writes its AMI into the
// stack file; plan then shows it pinned, and up's AMI refusal is gone. A
// parameter AWS does not publish is an error that leaves the file alone.
func TestAmiUpdatePinsTheDocumentedParameter(t *testing.T) {
	// Nothing from the host: no profile, config files or IMDS.
	for k, v := range map[string]string{"AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"), "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	fake, srv := newFakeSSM(t)
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test", "AWS_ENDPOINT_URL_SSM": srv.URL}
	dir := newProject(t)
	pd := []string{"--project-dir", dir}
	if _, stderr, code := runCLI(t, nil, "", append([]string{"stack", "new", "dev", "--preset", "dev", "--region", "us-west-2"}, pd...)...); code != 0 {
		t.Fatal(stderr)
	}
	out, stderr, code := runCLI(t, env, "", append([]string{"ami", "update", "dev"}, pd...)...)
	param := "/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/standard/recommended/image_id"
	want := fake.values[param]
	if code != 0 || want == "" || !strings.Contains(out, "node group general: pinned "+want+" ("+param+")") {
		t.Fatalf("ami update: exit %d, %s\n%s (asked %v)", code, stderr, out, fake.asked)
	}
	if got, _, _ := runCLI(t, nil, "", append([]string{"stack", "get", "dev", "nodeGroups[0].amiId"}, pd...)...); strings.TrimSpace(got) != want {
		t.Errorf("stack get nodeGroups[0].amiId = %q, want %s", got, want)
	}
	plan, _, _ := runCLI(t, nil, "", append([]string{"plan", "dev"}, pd...)...)
	if !strings.Contains(plan, "AMI "+want+" pinned by eksnet:nodeGroups[0].amiId") || strings.Contains(plan, "amiId (node group general): not pinned") {
		t.Errorf("plan after ami update:\n%s", plan)
	}
	if out, _, _ := runCLI(t, env, "", append([]string{"ami", "update", "dev"}, pd...)...); !strings.Contains(out, "node group general: "+want+" unchanged") {
		t.Errorf("second ami update: %s", out)
	}

	// Bottlerocket arm64: AWS's arm64 path, not aarch64.
	for _, kv := range [][2]string{{"cni.mode", "aws-vpc-cni"}, {"nodeGroups[0].os", "bottlerocket"}, {"nodeGroups[0].instanceTypes[0]", "m6g.large"}} {
		if _, stderr, code := runCLI(t, nil, "", append([]string{"stack", "set", "dev", kv[0], kv[1]}, pd...)...); code != 0 {
			t.Fatalf("stack set %v: %s", kv, stderr)
		}
	}
	out, stderr, code = runCLI(t, env, "", append([]string{"ami", "update", "dev"}, pd...)...)
	br := "/aws/service/bottlerocket/aws-k8s-1.33/arm64/latest/image_id"
	if code != 0 || !strings.Contains(out, " -> "+fake.values[br]+" ("+br+"); the next up rolls its nodes") {
		t.Errorf("ami update bottlerocket arm64: exit %d %s\n%s", code, stderr, out)
	}

	// A parameter AWS does not publish: an error naming it; the file stays.
	delete(fake.values, br)
	before, _ := os.ReadFile(filepath.Join(dir, "stacks", "Pulumi.dev.yaml"))
	_, stderr, code = runCLI(t, env, "", append([]string{"ami", "update", "dev"}, pd...)...)
	after, _ := os.ReadFile(filepath.Join(dir, "stacks", "Pulumi.dev.yaml"))
	if code == 0 || !strings.Contains(stderr, "node group general: AWS publishes no SSM parameter "+br+" in us-west-2") || string(before) != string(after) {
		t.Errorf("ami update of an unpublished parameter: exit %d, %s; file changed %v", code, stderr, string(before) != string(after))
	}
}
