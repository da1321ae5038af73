package stacks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// ValueError is a config value of the wrong shape: a field the key does
// not have, or a value of the wrong type. It names the full key path
// (eksnet:nodeGroups[0].maxSize) and what is accepted there, which
// encoding/json's errors do not (no list indices, Go type names).
type ValueError struct {
	// Key is the config key, e.g. eksnet:network.
	Key string
	// Path leads from the key's value to the bad one: field names
	// (string) and list indices (int); empty for the value itself.
	Path []any
	// Msg says what is wrong and what is accepted.
	Msg string
	// UnknownField is true when the last path element is a field the
	// value's type lacks (its key, not its value, is what to point at).
	UnknownField bool
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("config key %s: %s", e.KeyPath(), e.Msg)
}

// KeyPath is the key with the path, as `pulumi config set --path` takes it.
func (e *ValueError) KeyPath() string {
	var b strings.Builder
	b.WriteString(e.Key)
	for _, p := range e.Path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		default:
			fmt.Fprintf(&b, ".%s", p)
		}
	}
	return b.String()
}

// checkValue checks raw (JSON, or a bare YAML scalar as Pulumi passes it)
// against the type target points to.
func checkValue(key, raw string, target any) error {
	t := reflect.TypeOf(target).Elem()
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		// Not JSON: a bare scalar such as `yes` or `many`.
		return &ValueError{Key: key, Msg: fmt.Sprintf("want %s, got %q", typeWant(t), raw)}
	}
	return walkValue(key, nil, v, t)
}

func walkValue(key string, path []any, v any, t reflect.Type) error {
	bad := func() error {
		return &ValueError{Key: key, Path: slices.Clone(path), Msg: fmt.Sprintf("want %s, got %s", typeWant(t), valueGot(v))}
	}
	if v == nil {
		return nil // null leaves the preset's value
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields[name] = t.Field(i).Type
			names = append(names, name)
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ft, ok := fields[k]
			if !ok {
				return &ValueError{Key: key, Path: append(slices.Clone(path), k), UnknownField: true,
					Msg: fmt.Sprintf("unknown field; accepted fields here are %s", strings.Join(names, ", "))}
			}
			if err := walkValue(key, append(path, k), m[k], ft); err != nil {
				return err
			}
		}
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return bad()
		}
		for i, e := range l {
			if err := walkValue(key, append(path, i), e, t.Elem()); err != nil {
				return err
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if err := walkValue(key, append(path, k), m[k], t.Elem()); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return bad()
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			return bad()
		}
		if _, err := n.Int64(); err != nil {
			return bad()
		}
	}
	return nil
}

// typeWant names a Go type as a stack file author writes it.
func typeWant(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct:
		return "a mapping of fields"
	case reflect.Map:
		return "a mapping of " + plural(t.Elem())
	case reflect.Slice:
		return "a list of " + plural(t.Elem())
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "an integer"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

func plural(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "mappings"
	case reflect.Int:
		return "integers"
	case reflect.Bool:
		return "true/false values"
	case reflect.String:
		return "strings"
	}
	return t.String() + " values"
}

// valueGot names a decoded JSON value.
func valueGot(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("a string (%q)", v)
	case bool:
		return fmt.Sprintf("%v", v)
	case json.Number:
		return "the number " + v.String()
	}
	return fmt.Sprint(v)
}
