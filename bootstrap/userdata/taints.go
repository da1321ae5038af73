package userdata

import (
	"fmt"
	"slices"
	"strings"
)

// Taint is a node taint kubelet registers the node with, in Kubernetes
// spelling (Effect NoSchedule, PreferNoSchedule or NoExecute).
type Taint struct {
	Key    string `yaml:"key"`
	Value  string `yaml:"value,omitempty"`
	Effect string `yaml:"effect"`
}

// TaintEffects are the effects kubelet accepts.
var TaintEffects = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}

// ValidateTaints applies Kubernetes' taint syntax: a label-style key, a
// label-style value and one of TaintEffects.
func ValidateTaints(taints []Taint) error {
	for _, t := range taints {
		if err := validateLabelKey(t.Key); err != nil {
			return &FieldError{"NodeTaints", t.Key, "a taint key follows label key rules: " + err.Error()}
		}
		if t.Value != "" && !labelNameRE.MatchString(t.Value) {
			return &FieldError{"NodeTaints", t.Key + "=" + t.Value, "a taint value is empty or up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"}
		}
		if !slices.Contains(TaintEffects, t.Effect) {
			return &FieldError{"NodeTaints", t.Key + ":" + t.Effect, "accepted effects are " + strings.Join(TaintEffects, ", ")}
		}
	}
	return nil
}

// registerWithTaintsFlag renders kubelet's --register-with-taints value
// (key=value:Effect, comma separated), or "" without taints.
func registerWithTaintsFlag(taints []Taint) string {
	if len(taints) == 0 {
		return ""
	}
	parts := make([]string, len(taints))
	for i, t := range taints {
		parts[i] = fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect)
	}
	return "--register-with-taints=" + strings.Join(parts, ",")
}

// tomlTaints renders Bottlerocket's settings.kubernetes.node-taints table:
// each key maps to a list of "value:Effect".
func tomlTaints(taints []Taint) string {
	if len(taints) == 0 {
		return ""
	}
	byKey := map[string][]string{}
	var keys []string
	for _, t := range taints {
		if _, ok := byKey[t.Key]; !ok {
			keys = append(keys, t.Key)
		}
		byKey[t.Key] = append(byKey[t.Key], fmt.Sprintf("%q", t.Value+":"+t.Effect))
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("\n[settings.kubernetes.node-taints]\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%q = [%s]\n", k, strings.Join(byKey[k], ", "))
	}
	return b.String()
}
