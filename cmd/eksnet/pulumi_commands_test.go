package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eksnet/eksnet/infra/plan"
)

// newProject makes a scratch project holding the repository's Pulumi.yaml.
func newProject(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testApp runs the CLI with a pinned environment: only env, nothing from
// the machine (no AWS credentials, no PATH unless given).
func testApp(env map[string]string) (*app, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &app{stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}, &out, &errb
}

func TestStackNewThenPlan(t *testing.T) {
	// Plan must not need credentials: make sure none leak in from the host.
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
		t.Setenv(k, "")
	}
	dir := newProject(t)
	a, out, _ := testApp(nil)
	ctx := context.Background()
	if err := runWith(ctx, []string{"stack", "new", "dev", "--preset", "dev", "--region", "us-west-2", "--project-dir", dir}, a); err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(filepath.Join(dir, "stacks", "Pulumi.dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"aws:region: us-west-2", "eksnet:preset: dev", "eksnet:clusterName: eksnet-dev"} {
		if !strings.Contains(string(written), want) {
			t.Errorf("stack file lacks %q:\n%s", want, written)
		}
	}

	out.Reset()
	if err := runWith(ctx, []string{"plan", "dev", "--project-dir", dir}, a); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"eks:index:Cluster cluster [remote component]",
		"max pods 16: t3.medium, secondary-ip mode: 3 ENIs x (6 IPs - 1) + 1 = 16",
		"private-us-west-2a  10.0.0.0/20",
		"IP capacity",
		"EKSNET_MAX_PODS=16",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("plan output lacks %q:\n%s", want, text)
		}
	}

	out.Reset()
	if err := runWith(ctx, []string{"plan", "dev", "-o", "json", "--project-dir", dir}, a); err != nil {
		t.Fatal(err)
	}
	var p plan.Plan
	if err := json.Unmarshal(out.Bytes(), &p); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, out.String())
	}
	if len(p.Subnets) != 4 || len(p.NodeGroups) != 1 || p.NodeGroups[0].MaxPods != 16 || p.NodeGroups[0].CNI.Agent == nil || len(p.Capacity) != 2 {
		t.Errorf("plan json %+v", p)
	}

	// An override with `pulumi config set --path` shape changes the plan.
	f, err := os.OpenFile(filepath.Join(dir, "stacks", "Pulumi.dev.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("  eksnet:cni:\n    prefixDelegation: true\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out.Reset()
	if err := runWith(ctx, []string{"plan", "dev", "-o", "json", "--project-dir", dir}, a); err != nil {
		t.Fatal(err)
	}
	p = plan.Plan{}
	if err := json.Unmarshal(out.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.NodeGroups[0].MaxPods != 110 || p.NodeGroups[0].CNI.Agent.Env["EKSNET_MODE"] != "prefix" || p.Subnets[0].Reservation == "" {
		t.Errorf("prefix delegation override not planned: %+v", p.NodeGroups[0])
	}
}

func TestStackNewErrors(t *testing.T) {
	dir := newProject(t)
	ctx := context.Background()
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"stack", "new", "dev", "--preset", "dev"}, nil, "--region: not set and neither AWS_REGION nor AWS_DEFAULT_REGION is"},
		{[]string{"stack", "new", "dev", "--preset", "tiny", "--region", "us-west-2"}, nil, `--preset: preset "tiny": accepted values are dev, staging, prod`},
		{[]string{"stack", "new", "Dev_1", "--preset", "dev", "--region", "us-west-2"}, nil, `stack name "Dev_1"`},
		{[]string{"stack", "new", "qa", "--preset", "dev"}, map[string]string{"AWS_REGION": "nowhere"}, `aws:region: "nowhere" is not an AWS region`},
		{[]string{"plan", "missing"}, nil, "create it with `eksnet stack new missing --preset dev|staging|prod --region R`"},
		{[]string{"plan", "x", "-o", "yaml"}, nil, `-o/--output "yaml": accepted values are text, json`},
	} {
		a, _, _ := testApp(tt.env)
		err := runWith(ctx, append(tt.args, "--project-dir", dir), a)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
	a, _, _ := testApp(map[string]string{"AWS_DEFAULT_REGION": "eu-west-1"})
	if err := runWith(ctx, []string{"stack", "new", "qa", "--preset", "prod", "--project-dir", dir}, a); err != nil {
		t.Fatal(err)
	}
	if err := runWith(ctx, []string{"stack", "new", "qa", "--preset", "prod", "--project-dir", dir}, a); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("overwrite: %v", err)
	}
}

// TestPulumiCLIMissing: preview, up, destroy and kubeconfig say clearly
// that the pulumi CLI is missing and how to install it.
func TestPulumiCLIMissing(t *testing.T) {
	dir := newProject(t)
	ctx := context.Background()
	a, _, _ := testApp(map[string]string{"AWS_REGION": "us-west-2"})
	if err := runWith(ctx, []string{"stack", "new", "dev", "--preset", "dev", "--project-dir", dir}, a); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	env := map[string]string{"PATH": t.TempDir(), "HOME": home, "PULUMI_CONFIG_PASSPHRASE": "x"}
	for _, cmd := range []string{"preview", "destroy", "kubeconfig"} {
		a, _, _ := testApp(env)
		err := runWith(ctx, []string{cmd, "dev", "--project-dir", dir}, a)
		if !errors.Is(err, errPulumiMissing) {
			t.Fatalf("%s: err = %v, want errPulumiMissing", cmd, err)
		}
		for _, want := range []string{"the pulumi CLI was not found on PATH or in ~/.pulumi/bin", "curl -fsSL https://get.pulumi.com | sh", "https://www.pulumi.com/docs/install/", "`eksnet plan ENV` needs no CLI"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q lacks %q", cmd, err, want)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(home, ".eksnet")); !os.IsNotExist(err) {
		t.Errorf("state dir created although nothing could run: %v", err)
	}
}

func TestUpRefusesPlaceholderAgent(t *testing.T) {
	dir := newProject(t)
	ctx := context.Background()
	a, _, _ := testApp(map[string]string{"AWS_REGION": "us-west-2"})
	if err := runWith(ctx, []string{"stack", "new", "dev", "--preset", "dev", "--project-dir", dir}, a); err != nil {
		t.Fatal(err)
	}
	a, _, _ = testApp(fakePulumi(t))
	err := runWith(ctx, []string{"up", "dev", "--project-dir", dir}, a)
	if err == nil || !strings.Contains(err.Error(), "eksnet:cni.agent.amd64Path (node group general)") {
		t.Fatalf("up with placeholder agent: %v", err)
	}
}

func TestPulumiEnvironment(t *testing.T) {
	// A pulumi binary in ~/.pulumi/bin counts, as the installer puts it there.
	home := t.TempDir()
	bin := filepath.Join(home, ".pulumi", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "pulumi"), []byte("#!/bin/sh\necho v3.200.0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": home, "PATH": t.TempDir()}
	root, err := findPulumi(func(k string) string { return env[k] })
	if err != nil || root != filepath.Join(home, ".pulumi") {
		t.Fatalf("findPulumi = %s, %v", root, err)
	}

	// With the CLI present, a missing passphrase is the next clear error.
	dir := newProject(t)
	a, _, _ := testApp(map[string]string{"AWS_REGION": "us-west-2", "HOME": home, "PATH": env["PATH"]})
	if err := runWith(context.Background(), []string{"stack", "new", "dev", "--preset", "dev", "--project-dir", dir}, a); err != nil {
		t.Fatal(err)
	}
	err = runWith(context.Background(), []string{"preview", "dev", "--project-dir", dir}, a)
	if err == nil || !strings.Contains(err.Error(), "PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) is not set") {
		t.Fatalf("preview without passphrase: %v", err)
	}

	u, err := backendURL(func(k string) string {
		return map[string]string{"PULUMI_BACKEND_URL": "s3://team/eksnet", "HOME": home}[k]
	})
	if err != nil || u != "s3://team/eksnet" {
		t.Errorf("backendURL with PULUMI_BACKEND_URL = %s, %v", u, err)
	}
	u, err = backendURL(func(k string) string { return map[string]string{"HOME": home}[k] })
	if want := "file://" + filepath.Join(home, ".eksnet", "state"); err != nil || u != want {
		t.Errorf("backendURL default = %s, %v; want %s", u, err, want)
	}
	if st, err := os.Stat(filepath.Join(home, ".eksnet", "state")); err != nil || !st.IsDir() {
		t.Errorf("local backend dir not created: %v", err)
	}
	if _, err := backendURL(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "PULUMI_BACKEND_URL") {
		t.Errorf("backendURL without HOME: %v", err)
	}
}
