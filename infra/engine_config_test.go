package infra_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/eksnet/eksnet/infra"
	"github.com/eksnet/eksnet/infra/plan"
	"github.com/eksnet/eksnet/stacks"
)

// runEngineProgram runs what plain `pulumi up` runs (cmd/stack's
// infra.EngineProgram) as the pulumi CLI starts it: the config and its
// secret keys in PULUMI_CONFIG and PULUMI_CONFIG_SECRET_KEYS, a preview.
func runEngineProgram(t *testing.T, stack string, config map[string]string, secret []string) (*plan.Mocks, error) {
	t.Helper()
	b, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	s, err := json.Marshal(secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(pulumi.EnvConfig, string(b))
	t.Setenv(pulumi.EnvConfigSecretKeys, string(s))
	t.Setenv(pulumi.EnvDryRun, "true")
	m := plan.NewMocks(plan.Project, stack, config["aws:region"])
	program, withConfig := infra.EngineProgram()
	return m, pulumi.RunErr(program, withConfig, pulumi.WithMocks(plan.Project, stack, m))
}

// loadStackFile writes yaml as stack env's file and loads it as `eksnet
// plan` and `eksnet up` do.
func loadStackFile(t *testing.T, env, yaml string) (stacks.Config, error) {
	t.Helper()
	root := t.TempDir()
	path := stacks.FilePath(root, env)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return stacks.Load(root, env)
}

// TestPulumiUpRejectsWhatEksnetRejects: a stack config the eksnet commands
// refuse (a misspelled or unknown eksnet: key, a secret eksnet value) fails
// plain `pulumi up` too, before any resource, with the message the stack
// file decoder gives. Unknown keys used to be passed over by `pulumi up`,
// so a typo silently kept the preset's default.
func TestPulumiUpRejectsWhatEksnetRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string            // the stack file
		config map[string]string // what the engine passes for it
		secret []string
		want   string // what both messages say
	}{
		{"misspelled key",
			"config:\n  aws:region: us-east-1\n  eksnet:netwrok:\n    nat: none\n",
			map[string]string{"aws:region": "us-east-1", "eksnet:netwrok": `{"nat":"none"}`}, nil,
			"config key eksnet:netwrok: unknown (did you mean eksnet:network?); accepted keys are eksnet:preset, eksnet:clusterName, eksnet:kubernetesVersion, eksnet:network, eksnet:cluster, eksnet:cni, eksnet:nodeGroups, eksnet:addons, eksnet:protect"},
		{"unknown key",
			"config:\n  aws:region: us-east-1\n  eksnet:vpcId: vpc-0123\n",
			map[string]string{"aws:region": "us-east-1", "eksnet:vpcId": "vpc-0123"}, nil,
			"config key eksnet:vpcId: unknown; accepted keys are eksnet:preset,"},
		{"secret value",
			"config:\n  aws:region: us-east-1\n  eksnet:clusterName:\n    secure: AAABAGVrc25ldA==\n",
			map[string]string{"aws:region": "us-east-1", "eksnet:clusterName": "eksnet-x"}, []string{"eksnet:clusterName"},
			"config key eksnet:clusterName: secret values are not supported for eksnet settings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ferr := loadStackFile(t, "x", tc.file)
			if ferr == nil || !strings.Contains(ferr.Error(), tc.want) {
				t.Fatalf("stack file: err = %v, want %q", ferr, tc.want)
			}
			// The file decoder's message without the file's path and position.
			want := ferr.Error()[strings.Index(ferr.Error(), "config key "):]
			var ve *stacks.ValueError
			if errors.As(ferr, &ve) {
				want = ve.Error()
			}
			m, err := runEngineProgram(t, "x", tc.config, tc.secret)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("pulumi up: err = %v\nwant the stack file's message %q", err, want)
			}
			if len(m.Registrations()) != 0 {
				t.Error("resources registered despite the error")
			}
		})
	}
}

// TestPulumiUpTakesWhatEksnetTakes: a valid stack file and the engine's
// config for it resolve to one Config, aws:profile included, and plain
// `pulumi up` builds it.
func TestPulumiUpTakesWhatEksnetTakes(t *testing.T) {
	file := "config:\n  aws:profile: platform-admin\n  aws:region: eu-west-1\n  eksnet:kubernetesVersion: 1.30\n  eksnet:network:\n    nat: per-az\n  eksnet:nodeGroups:\n    - maxSize: 9\n  eksnet:preset: staging\n  other:setting:\n    nested: [1, 2]\n"
	config := map[string]string{
		"aws:profile": "platform-admin", "aws:region": "eu-west-1", "eksnet:kubernetesVersion": "1.30",
		"eksnet:network": `{"nat":"per-az"}`, "eksnet:nodeGroups": `[{"maxSize":9}]`, "eksnet:preset": "staging",
		"other:setting": `{"nested":[1,2]}`,
	}
	fromFile, err := loadStackFile(t, "team-a", file)
	if err != nil {
		t.Fatal(err)
	}
	pctx, err := pulumi.NewContext(t.Context(), pulumi.RunInfo{Project: plan.Project, Stack: "team-a", Config: config, Mocks: plan.NewMocks(plan.Project, "team-a", "eu-west-1")})
	if err != nil {
		t.Fatal(err)
	}
	defer pctx.Close()
	fromEngine, err := infra.ConfigFromPulumi(pctx, config)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fromFile)
	b, _ := json.Marshal(fromEngine)
	if string(a) != string(b) {
		t.Errorf("stack file and engine config resolve differently:\nfile   %s\nengine %s", a, b)
	}
	if fromEngine.Cluster.KubeconfigProfile != "platform-admin" || fromEngine.KubernetesVersion != "1.30" || fromEngine.Network.NAT != stacks.NATPerAZ {
		t.Errorf("resolved %+v", fromEngine)
	}
	m, err := runEngineProgram(t, "team-a", config, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.ByType(tNAT)); n != 3 {
		t.Errorf("%d NAT gateways, want 3 (per-az override)", n)
	}
}
