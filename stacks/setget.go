package stacks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/eksnet/eksnet/internal/atomicfile"
)

// A config key path as `pulumi config set --path` takes it: namespace:key,
// then .field and [index] steps.
var (
	keyHeadRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_-]*):([A-Za-z][A-Za-z0-9_]*)`)
	keyStepRE = regexp.MustCompile(`^(\.([A-Za-z][A-Za-z0-9_./-]*?)|\[(\d+)\])(?:[.\[]|$)`)
)

// SettableAWSKeys are the aws: keys eksnet reads (aws:profile is the
// kubeconfig's default profile).
var SettableAWSKeys = []string{"aws:region", "aws:profile"}

// KeyPath is a parsed config key: its top-level key (eksnet:network) and
// the steps below it (field names as string, list indices as int).
type KeyPath struct {
	Key  string
	Path []any
}

// ParseKeyPath parses KEY as `pulumi config set --path` does; a key
// without a namespace is an eksnet: key.
func ParseKeyPath(s string) (KeyPath, error) {
	if !strings.Contains(strings.SplitN(s, ".", 2)[0], ":") {
		s = Namespace + ":" + s
	}
	m := keyHeadRE.FindStringSubmatch(s)
	if m == nil {
		return KeyPath{}, fmt.Errorf("key %q: want namespace:key[.field|[index]...], e.g. eksnet:network.nat or eksnet:nodeGroups[0].maxSize", s)
	}
	kp := KeyPath{Key: m[0]}
	rest := s[len(m[0]):]
	for rest != "" {
		step := keyStepRE.FindStringSubmatch(rest)
		if step == nil {
			return KeyPath{}, fmt.Errorf("key %q: cannot read %q; steps are .field or [index], e.g. eksnet:nodeGroups[0].maxSize", s, rest)
		}
		if step[3] != "" {
			i, _ := strconv.Atoi(step[3])
			kp.Path = append(kp.Path, i)
		} else {
			kp.Path = append(kp.Path, step[2])
		}
		rest = rest[len(step[1]):]
	}
	ns := strings.SplitN(kp.Key, ":", 2)[0]
	switch {
	case ns == Namespace && !slices.Contains(Keys, strings.TrimPrefix(kp.Key, Namespace+":")):
		return KeyPath{}, unknownKey(kp.Key)
	case ns != Namespace && !slices.Contains(SettableAWSKeys, kp.Key):
		return KeyPath{}, fmt.Errorf("key %s: eksnet reads eksnet:%s and %s; set other keys with `pulumi config set`", kp.Key, strings.Join(Keys, ", eksnet:"), strings.Join(SettableAWSKeys, ", "))
	case ns != Namespace && len(kp.Path) > 0:
		return KeyPath{}, fmt.Errorf("key %s: %s is a string, it has no fields", s, kp.Key)
	}
	return kp, nil
}

// String is the key as `pulumi config set --path` takes it.
func (k KeyPath) String() string {
	return (&ValueError{Key: k.Key, Path: k.Path}).KeyPath()
}

// pathValue is VALUE as `pulumi config set --path` stores it: with a path,
// true/false are booleans and integers numbers; a top-level value is
// always a string.
func pathValue(value string, hasPath bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
	if !hasPath {
		return n
	}
	if value == "true" || value == "false" {
		n.Tag = "!!bool"
	} else if _, err := strconv.ParseInt(value, 10, 64); err == nil {
		n.Tag = "!!int"
	}
	return n
}

// Setting is one KEY=VALUE of Set.
type Setting struct{ Key, Value string }

// Set writes the settings into stack env's file under root as `pulumi
// config set --path` would, one after the other, then checks the result
// with the decoder and the validation every command runs: a bad key or
// value is an error and the file is left untouched. A stack that was valid
// must stay valid (changes that are only valid together, such as two list
// entries, go in one Set); one that was already invalid (mid-fix) may stay
// so, and the returned warning says what still fails.
func Set(root, env string, settings ...Setting) (warning error, err error) {
	kps := make([]KeyPath, len(settings))
	for i, s := range settings {
		if kps[i], err = ParseKeyPath(s.Key); err != nil {
			return nil, err
		}
	}
	path := FilePath(root, env)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, err := Load(root, env) // the error that says how to create it
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read stack file: %w", err)
	}
	before, err := parseStackFile(path, b)
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", env, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("stack %s: parse %s: %w", env, path, err)
	}
	for i, kp := range kps {
		if err := setNode(&doc, kp, pathValue(settings[i].Value, len(kp.Path) > 0)); err != nil {
			return nil, fmt.Errorf("stack %s: %w", env, err)
		}
	}
	what := settingsText(kps, settings)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2) // as the pulumi CLI writes it
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encode stack file %s: %w", path, err)
	}
	after, err := parseStackFile(path, buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("stack %s: %s: %w", env, what, err)
	}
	cfg, err := after.resolve(env, path)
	if err != nil {
		var ve *ValueError
		if errors.As(err, &ve) {
			// The position would be in the file as it would be: not useful.
			return nil, fmt.Errorf("stack %s: %w", env, ve)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if verr := cfg.Validate(); verr != nil {
		oldCfg, oerr := before.resolve(env, path)
		if oerr == nil && oldCfg.Validate() == nil {
			return nil, fmt.Errorf("%s would make stack %s invalid: %w", what, env, verr)
		}
		warning = fmt.Errorf("stack %s is still invalid: %w", env, verr)
	}
	return warning, writeAtomic(path, buf.Bytes())
}

// settingsText is KEY "VALUE", ... for messages.
func settingsText(kps []KeyPath, settings []Setting) string {
	parts := make([]string, len(kps))
	for i, kp := range kps {
		parts[i] = fmt.Sprintf("%s %q", kp, settings[i].Value)
	}
	return strings.Join(parts, ", ")
}

// setNode sets the value at kp in a stack file document, creating the
// mappings and lists on the way as pulumi does.
func setNode(doc *yaml.Node, kp KeyPath, value *yaml.Node) error {
	if len(doc.Content) == 0 {
		doc.Kind = yaml.DocumentNode
		doc.Content = []*yaml.Node{{Kind: yaml.MappingNode}}
	}
	top := doc.Content[0]
	cfg := mapEntry(top, "config", func() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} })
	if cfg.Kind == yaml.ScalarNode && cfg.Tag == "!!null" {
		*cfg = yaml.Node{Kind: yaml.MappingNode}
	}
	steps := append([]any{kp.Key}, kp.Path...)
	n := cfg
	for i, step := range steps {
		last := i == len(steps)-1
		fresh := func() *yaml.Node {
			if last {
				return value
			}
			if _, isIndex := steps[i+1].(int); isIndex {
				return &yaml.Node{Kind: yaml.SequenceNode}
			}
			return &yaml.Node{Kind: yaml.MappingNode}
		}
		where := (&ValueError{Key: kp.Key, Path: kp.Path[:max(i-1, 0)]}).KeyPath()
		if i == 0 {
			where = "config"
		}
		switch step := step.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return fmt.Errorf("%s: is %s in the file, not a mapping: cannot set field %s", where, kindName(n), step)
			}
			child := mapEntry(n, step, fresh)
			if last {
				*child = *value
			}
			n = child
		case int:
			if n.Kind != yaml.SequenceNode {
				return fmt.Errorf("%s: is %s in the file, not a list: cannot set [%d]", where, kindName(n), step)
			}
			switch {
			case step < len(n.Content):
				if last {
					n.Content[step] = value
				}
			case step == len(n.Content):
				n.Content = append(n.Content, fresh())
			default:
				return fmt.Errorf("%s[%d]: the list in the file has %d entries (indices 0 to %d); set [%d] to append", where, step, len(n.Content), len(n.Content)-1, len(n.Content))
			}
			n = n.Content[step]
		}
	}
	return nil
}

// mapEntry returns the value of key in mapping m, adding it (from make)
// at its sorted place when absent: pulumi writes config keys sorted.
func mapEntry(m *yaml.Node, key string, make func() *yaml.Node) *yaml.Node {
	at := len(m.Content)
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
		if at == len(m.Content) && m.Content[i].Value > key {
			at = i
		}
	}
	v := make()
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	m.Content = slices.Insert(m.Content, at, k, v)
	return v
}

// writeAtomic replaces path with b, keeping the file's mode (a user who
// made it 0600 keeps 0600): a reader (or a crash) sees the old file or the
// new one, never half of it.
func writeAtomic(path string, b []byte) error {
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	if err := atomicfile.WriteFile(path, b, mode); err != nil {
		return fmt.Errorf("stack file: %w", err)
	}
	return nil
}

// Get returns the value of key in effect for cfg: the stack file's when
// set, else the preset's. Strings print bare, everything else as JSON.
func Get(cfg Config, key string) (string, error) {
	kp, err := ParseKeyPath(key)
	if err != nil {
		return "", err
	}
	switch kp.Key {
	case "aws:region":
		return cfg.Region, nil
	case "aws:profile":
		return "", fmt.Errorf("key aws:profile: eksnet does not resolve it; read it with `pulumi config get aws:profile`")
	}
	top := strings.TrimPrefix(kp.Key, Namespace+":")
	if top == "preset" {
		return cfg.Preset, nil
	}
	v, ok := fieldByJSON(reflect.ValueOf(cfg), top)
	if !ok {
		return "", fmt.Errorf("key %s: not a Config field", kp.Key) // Keys and Config disagree: a bug
	}
	for i, step := range kp.Path {
		here := (&ValueError{Key: kp.Key, Path: kp.Path[:i]}).KeyPath()
		switch step := step.(type) {
		case string:
			switch v.Kind() {
			case reflect.Struct:
				f, ok := fieldByJSON(v, step)
				if !ok {
					return "", fmt.Errorf("key %s: %s has no field %s; accepted fields are %s", kp, here, step, strings.Join(jsonFields(v.Type()), ", "))
				}
				v = f
			case reflect.Map:
				f := v.MapIndex(reflect.ValueOf(step))
				if !f.IsValid() {
					return "", fmt.Errorf("key %s: %s has no entry %s", kp, here, step)
				}
				v = f
			default:
				return "", fmt.Errorf("key %s: %s is %s, it has no fields", kp, here, typeWant(v.Type()))
			}
		case int:
			if v.Kind() != reflect.Slice {
				return "", fmt.Errorf("key %s: %s is %s, not a list", kp, here, typeWant(v.Type()))
			}
			if step >= v.Len() {
				return "", fmt.Errorf("key %s: %s has %d entries", kp, here, v.Len())
			}
			v = v.Index(step)
		}
	}
	if v.Kind() == reflect.String {
		return v.String(), nil
	}
	b, err := json.Marshal(v.Interface())
	return string(b), err
}

// fieldByJSON is the field of struct v whose JSON name is name.
func fieldByJSON(v reflect.Value, name string) (reflect.Value, bool) {
	for i := range v.NumField() {
		if n, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ","); n == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// jsonFields are the JSON names of struct type t's fields.
func jsonFields(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if n, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); n != "" && n != "-" {
			names = append(names, n)
		}
	}
	return names
}
