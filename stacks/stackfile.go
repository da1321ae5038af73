package stacks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Dir is the stack config directory, as Pulumi.yaml's stackConfigDir says.
const Dir = "stacks"

var envRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// FilePath returns where stack env's config lives under project root.
func FilePath(root, env string) string {
	return filepath.Join(root, Dir, "Pulumi."+env+".yaml")
}

// StackFile is the parsed Pulumi.<env>.yaml: Pulumi's config map, whose
// keys are namespaced ("aws:region", "eksnet:network").
type StackFile struct {
	SecretsProvider string         `yaml:"secretsprovider,omitempty"`
	EncryptionSalt  string         `yaml:"encryptionsalt,omitempty"`
	Config          map[string]any `yaml:"config"`

	raw map[string]yaml.Node
}

// NewStackFile returns the config `eksnet stack new` writes: the preset,
// the region and the cluster name. Everything else comes from the preset
// at run time, so upgrading eksnet upgrades defaults unless overridden.
func NewStackFile(env, preset, region string) (StackFile, error) {
	if !envRE.MatchString(env) {
		return StackFile{}, fmt.Errorf("stack name %q: must be 1-40 lower-case letters, digits or -", env)
	}
	cfg, err := Preset(preset, env, region)
	if err != nil {
		return StackFile{}, fmt.Errorf("--preset: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return StackFile{}, fmt.Errorf("stack %s with preset %s: %w", env, preset, err)
	}
	return StackFile{Config: map[string]any{
		"aws:region":         region,
		"eksnet:preset":      preset,
		"eksnet:clusterName": cfg.ClusterName,
	}}, nil
}

// Write writes the file to path, refusing to overwrite an existing stack.
func (f StackFile) Write(path string) error {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2) // as the pulumi CLI writes it
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("encode stack file %s: %w", path, err)
	}
	b := buf.Bytes()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create stack dir: %w", err)
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("stack file %s exists; edit it or use `pulumi config set`: %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("create stack file: %w", err)
	}
	if _, err := fh.Write(b); err != nil {
		fh.Close()
		return fmt.Errorf("write stack file %s: %w", path, err)
	}
	return fh.Close()
}

// ReadStackFile parses a Pulumi.<env>.yaml.
func ReadStackFile(path string) (StackFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return StackFile{}, fmt.Errorf("read stack file: %w", err)
	}
	var f StackFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return StackFile{}, fmt.Errorf("parse stack file %s: %w", path, err)
	}
	var raw struct {
		Config map[string]yaml.Node `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return StackFile{}, fmt.Errorf("parse stack file %s: %w", path, err)
	}
	f.raw = raw.Config
	return f, nil
}

// Values returns the file's config as Pulumi hands it to a program: the
// region, and the `eksnet:` values with the namespace removed, scalars as
// written (so 1.30 stays "1.30") and structured values as JSON. Secure
// (encrypted) values are errors: no eksnet key holds a secret.
func (f StackFile) Values() (region string, values map[string]string, err error) {
	values = map[string]string{}
	// Sorted, so a file with several bad keys always names the same one.
	for _, k := range slices.Sorted(maps.Keys(f.raw)) {
		node := f.raw[k]
		ns, key, ok := strings.Cut(k, ":")
		if !ok {
			return "", nil, fmt.Errorf("config key %q: want namespace:key (e.g. eksnet:network)", k)
		}
		if k == "aws:region" {
			region = node.Value
			continue
		}
		if ns != Namespace {
			continue
		}
		if node.Kind == yaml.ScalarNode {
			values[key] = node.Value
			continue
		}
		var v any
		if err := node.Decode(&v); err != nil {
			return "", nil, fmt.Errorf("config key %s: %w", k, err)
		}
		if m, ok := v.(map[string]any); ok && len(m) == 1 && m["secure"] != nil {
			return "", nil, fmt.Errorf("config key %s: secret values are not supported for eksnet settings", k)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return "", nil, fmt.Errorf("config key %s: %w", k, err)
		}
		values[key] = string(b)
	}
	return region, values, nil
}

// Load reads stack env under root and resolves it into a Config.
func Load(root, env string) (Config, error) {
	path := FilePath(root, env)
	f, err := ReadStackFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("stack %s (create it with `eksnet stack new %s --preset dev --region R`): %w", env, env, err)
	}
	region, values, err := f.Values()
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	cfg, err := Resolve(env, region, values)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
