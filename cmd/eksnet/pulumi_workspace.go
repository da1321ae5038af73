package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/spf13/cobra"

	"github.com/eksnet/eksnet/infra"
	"github.com/eksnet/eksnet/infra/plan"
	"github.com/eksnet/eksnet/stacks"
)

// pulumiInstallHelp is printed whenever the pulumi CLI is needed and absent.
const pulumiInstallHelp = "install it with `curl -fsSL https://get.pulumi.com | sh` (puts it in ~/.pulumi/bin) " +
	"or see https://www.pulumi.com/docs/install/; `eksnet plan ENV` needs no CLI and no credentials"

// errPulumiMissing is wrapped when the pulumi CLI cannot be found.
var errPulumiMissing = errors.New("the pulumi CLI was not found")

// errPassphraseMissing: the passphrase secrets provider has nothing to use.
var errPassphraseMissing = errors.New("PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) is not set: stack secrets such as the kubeconfig are encrypted with a passphrase; export it and retry")

// projectFlags are the flags every stack command shares.
type projectFlags struct {
	dir string
}

func (f *projectFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dir, "project-dir", "", "directory holding Pulumi.yaml (default: the nearest one above the working directory)")
}

// root returns the project root: --project-dir, or the nearest directory
// at or above the working directory that holds Pulumi.yaml.
func (f *projectFlags) root() (string, error) {
	if f.dir != "" {
		if _, err := os.Stat(filepath.Join(f.dir, "Pulumi.yaml")); err != nil {
			return "", fmt.Errorf("--project-dir %s: no Pulumi.yaml there: %w", f.dir, err)
		}
		return f.dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find project root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "Pulumi.yaml")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no Pulumi.yaml in %s or any parent; run in the eksnet checkout or pass --project-dir", wd)
		}
	}
}

// loadStack resolves and validates stack env of the project.
func (f *projectFlags) loadStack(env string) (string, stacks.Config, error) {
	root, err := f.root()
	if err != nil {
		return "", stacks.Config{}, err
	}
	cfg, err := stacks.Load(root, env)
	if err != nil {
		return "", stacks.Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return "", stacks.Config{}, fmt.Errorf("stack %s (%s): %w", env, stacks.FilePath(root, env), err)
	}
	return root, cfg, nil
}

// findPulumi looks for the pulumi binary on PATH, then in ~/.pulumi/bin
// where the installer puts it, and returns its install root for
// auto.NewPulumiCommand.
func findPulumi(getenv func(string) string) (string, error) {
	dirs := filepath.SplitList(getenv("PATH"))
	if home := getenv("HOME"); home != "" {
		dirs = append(dirs, filepath.Join(home, ".pulumi", "bin"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, "pulumi")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return filepath.Dir(d), nil
		}
	}
	return "", fmt.Errorf("%w on PATH or in ~/.pulumi/bin: preview, up, destroy and kubeconfig drive it through the Pulumi Automation API; %s", errPulumiMissing, pulumiInstallHelp)
}

// backendURL is PULUMI_BACKEND_URL, or a local file backend under the
// user's home (no Pulumi Cloud login needed), created on first use.
func backendURL(getenv func(string) string) (string, error) {
	if u := getenv("PULUMI_BACKEND_URL"); u != "" {
		return u, nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errors.New("state backend: neither PULUMI_BACKEND_URL nor HOME is set; set PULUMI_BACKEND_URL (e.g. s3://bucket/eksnet or file:///var/lib/eksnet)")
	}
	dir := filepath.Join(home, ".eksnet", "state")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create local state backend %s: %w", dir, err)
	}
	return "file://" + dir, nil
}

// openStack loads and validates stack env, then opens its Pulumi workspace:
// what every command that talks to the real backend does first.
func (a *app) openStack(ctx context.Context, pf *projectFlags, env string) (auto.Stack, stacks.Config, error) {
	root, cfg, err := pf.loadStack(env)
	if err != nil {
		return auto.Stack{}, stacks.Config{}, err
	}
	st, err := a.pulumiStack(ctx, root, cfg)
	return st, cfg, err
}

// pulumiStack opens (creating if needed) stack env with the inline
// program, after checking everything that can be checked locally.
func (a *app) pulumiStack(ctx context.Context, root string, cfg stacks.Config) (auto.Stack, error) {
	pulumiRoot, err := findPulumi(a.getenv)
	if err != nil {
		return auto.Stack{}, err
	}
	if a.getenv("PULUMI_CONFIG_PASSPHRASE") == "" && a.getenv("PULUMI_CONFIG_PASSPHRASE_FILE") == "" {
		return auto.Stack{}, errPassphraseMissing
	}
	backend, err := backendURL(a.getenv)
	if err != nil {
		return auto.Stack{}, err
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: pulumiRoot})
	if err != nil {
		return auto.Stack{}, fmt.Errorf("run the pulumi CLI in %s: %w (%s)", pulumiRoot, err, pulumiInstallHelp)
	}
	st, err := auto.UpsertStackInlineSource(ctx, cfg.Env, plan.Project, infra.BuildProgram(cfg),
		auto.Pulumi(cmd),
		auto.WorkDir(root),
		auto.SecretsProvider("passphrase"),
		auto.EnvVars(map[string]string{"PULUMI_BACKEND_URL": backend, "PULUMI_SKIP_UPDATE_CHECK": "true"}),
	)
	if err != nil {
		return auto.Stack{}, fmt.Errorf("open stack %s in backend %s: %w", cfg.Env, backend, err)
	}
	return st, nil
}
