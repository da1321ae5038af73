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
	"strconv"
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

	// raw and keys are each config entry's value and key nodes, for
	// positions in errors.
	raw, keys map[string]yaml.Node
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

// ReadStackFile parses a Pulumi.<env>.yaml. A malformed file is an error
// with the line and column of the problem (a *FileError), never advice to
// create the file.
func ReadStackFile(path string) (StackFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return StackFile{}, fmt.Errorf("read stack file: %w", err)
	}
	return parseStackFile(path, b)
}

// parseStackFile parses the bytes b of the stack file at path.
func parseStackFile(path string, b []byte) (StackFile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return StackFile{}, syntaxError(path, b, err)
	}
	var f StackFile
	if len(doc.Content) == 0 {
		return f, nil // empty file: no config yet
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return StackFile{}, &FileError{Path: path, Line: top.Line, Column: top.Column,
			Msg: "want a mapping with a config: key (as `eksnet stack new` writes), got " + kindName(top)}
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "secretsprovider", "encryptionsalt":
			if v.Kind != yaml.ScalarNode {
				return StackFile{}, &FileError{Path: path, Line: v.Line, Column: v.Column, Msg: k.Value + ": want a string, got " + kindName(v)}
			}
			if k.Value == "secretsprovider" {
				f.SecretsProvider = v.Value
			} else {
				f.EncryptionSalt = v.Value
			}
		case "config":
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
			if v.Kind != yaml.MappingNode {
				return StackFile{}, &FileError{Path: path, Line: v.Line, Column: v.Column,
					Msg: "config: want a mapping of namespace:key to value (e.g. eksnet:preset: dev), got " + kindName(v)}
			}
			f.Config = map[string]any{}
			f.raw = map[string]yaml.Node{}
			f.keys = map[string]yaml.Node{}
			for j := 0; j+1 < len(v.Content); j += 2 {
				ck, cv := v.Content[j], v.Content[j+1]
				if prev, dup := f.raw[ck.Value]; dup {
					return StackFile{}, &FileError{Path: path, Line: ck.Line, Column: ck.Column,
						Msg: fmt.Sprintf("config key %s: given twice (first at line %d); keep one", ck.Value, prev.Line)}
				}
				var val any
				if err := cv.Decode(&val); err != nil {
					return StackFile{}, &FileError{Path: path, Line: cv.Line, Column: cv.Column, Msg: "config key " + ck.Value + ": " + err.Error()}
				}
				f.Config[ck.Value] = val
				f.raw[ck.Value] = *cv
				f.keys[ck.Value] = *ck
			}
		}
	}
	return f, nil
}

// FileError is a problem at a place in a stack file.
type FileError struct {
	Path         string
	Line, Column int
	Msg          string
	// Err is the error Msg came from, if any (a *ValueError).
	Err error
}

func (e *FileError) Unwrap() error { return e.Err }

func (e *FileError) Error() string {
	return fmt.Sprintf("%s: line %d, column %d: %s", e.Path, e.Line, e.Column, e.Msg)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 syntax error, which names only the line,
// into a FileError with the column as well: the first column at which the
// line, cut there, fails with the same problem (the offending character);
// failing that, the line's first non-blank column.
func syntaxError(path string, b []byte, err error) error {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("parse stack file %s: %w", path, err)
	}
	line, _ := strconv.Atoi(m[1])
	lines := strings.Split(string(b), "\n")
	if line < 1 || line > len(lines) {
		return &FileError{Path: path, Line: line, Column: 1, Msg: m[2]}
	}
	text := lines[line-1]
	col := len(text) - len(strings.TrimLeft(text, " \t")) + 1
	before := strings.Join(lines[:line-1], "\n")
	if before != "" {
		before += "\n"
	}
	var probe yaml.Node
	if yaml.Unmarshal([]byte(before), &probe) == nil {
		for c := 1; c <= len(text); c++ {
			err := yaml.Unmarshal([]byte(before+text[:c]), &probe)
			if err != nil && strings.HasSuffix(err.Error(), ": "+m[2]) {
				col = c
				break
			}
		}
	}
	return &FileError{Path: path, Line: line, Column: col, Msg: m[2]}
}

// kindName says what a YAML node is, for type errors.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!int", "!!float":
		return "a number (" + n.Value + ")"
	case "!!bool":
		return "true/false (" + n.Value + ")"
	case "!!null":
		return "nothing"
	}
	return fmt.Sprintf("a string (%q)", n.Value)
}

// Values returns the file's config as Pulumi hands it to a program, for
// Resolve: every key with its namespace, scalars as written (so 1.30 stays
// "1.30"), structured eksnet: values as JSON; secret lists the keys whose
// values are secure (encrypted). Structured values of other namespaces are
// left out: they are not eksnet's to read.
func (f StackFile) Values() (config map[string]string, secret []string, err error) {
	config = map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(f.raw)) {
		node := f.raw[k]
		if node.Kind == yaml.ScalarNode {
			config[k] = node.Value
			continue
		}
		if ns, _, ok := strings.Cut(k, ":"); ok && ns != Namespace {
			continue
		}
		var v any
		if err := node.Decode(&v); err != nil {
			return nil, nil, fmt.Errorf("config key %s: %w", k, err)
		}
		if m, ok := v.(map[string]any); ok && len(m) == 1 && m["secure"] != nil {
			secret = append(secret, k)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, nil, fmt.Errorf("config key %s: %w", k, err)
		}
		config[k] = string(b)
	}
	return config, secret, nil
}

// Load reads stack env under root and resolves it into a Config. A file
// that does not exist is an error naming the preset to create it from; a
// value of the wrong type names the key path, the type wanted and its line
// and column.
func Load(root, env string) (Config, error) {
	path := FilePath(root, env)
	f, err := ReadStackFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		preset := strings.Join(PresetNames, "|")
		if slices.Contains(PresetNames, env) {
			preset = env
		}
		return Config{}, &MissingStackError{Env: env, Path: path, Preset: preset, err: err}
	}
	if err != nil {
		return Config{}, fmt.Errorf("stack %s: %w", env, err)
	}
	return f.resolve(env, path)
}

// resolve resolves the parsed file of stack env (at path) into a Config.
func (f StackFile) resolve(env, path string) (Config, error) {
	config, secret, err := f.Values()
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	cfg, err := Resolve(env, config, secret)
	var ve *ValueError
	if errors.As(err, &ve) {
		if n, ok := f.raw[ve.Key]; ok {
			at := nodeAt(&n, ve.Path, ve.UnknownField)
			if len(ve.Path) == 0 && ve.UnknownField {
				k := f.keys[ve.Key] // an unknown key: point at it, not its value
				at = &k
			}
			return Config{}, fmt.Errorf("stack %s: %w", env, &FileError{Path: path, Line: at.Line, Column: at.Column, Msg: err.Error(), Err: ve})
		}
	}
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// MissingStackError says a stack has no file and how to create it; it
// matches fs.ErrNotExist.
type MissingStackError struct {
	Env, Path string
	// Preset is the preset named like the stack, else "dev|staging|prod".
	Preset string
	err    error
}

func (e *MissingStackError) Error() string {
	return fmt.Sprintf("stack %s: no stack file %s; create it with `eksnet stack new %s --preset %s --region R`", e.Env, e.Path, e.Env, e.Preset)
}

func (e *MissingStackError) Unwrap() error { return e.err }

// nodeAt follows a ValueError path (field names and list indices) down
// from n as far as the file has it; keyOfLast points at the last field's
// key rather than its value.
func nodeAt(n *yaml.Node, path []any, keyOfLast bool) *yaml.Node {
	for i, p := range path {
		last := i == len(path)-1
		next := (*yaml.Node)(nil)
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						next = n.Content[i+1]
						if (last && keyOfLast) || (next.Kind == yaml.ScalarNode && next.Tag == "!!null") {
							next = n.Content[i]
						}
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}
