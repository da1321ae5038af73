package stacks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Namespace is the Pulumi config namespace of every eksnet key.
const Namespace = "eksnet"

// Keys are the accepted `eksnet:` config keys: the top-level fields of
// Config. Object values (network, cluster, cni, addons, nodeGroups) merge
// over the preset, so `pulumi config set --path eksnet:network.nat per-az`
// changes only that field.
var Keys = []string{"preset", "clusterName", "kubernetesVersion", "network", "cluster", "cni", "nodeGroups", "addons", "protect"}

// Resolve builds the Config of stack env: the preset named by
// values["preset"] (default dev), then every other value laid over it.
// values holds `eksnet:` keys without the namespace, as Pulumi passes them:
// strings raw, everything else JSON. Unknown keys and unknown fields are
// errors naming the key, so a typo never silently keeps a default; a value
// of the wrong type is a *ValueError naming the key path and the type wanted.
func Resolve(env, region string, values map[string]string) (Config, error) {
	preset := values["preset"]
	if preset == "" {
		preset = PresetDev
	}
	cfg, err := Preset(preset, env, region)
	if err != nil {
		return Config{}, fmt.Errorf("eksnet:%w", err)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := values[k]
		var target any
		switch k {
		case "preset":
			continue
		case "clusterName":
			cfg.ClusterName = v
			continue
		case "kubernetesVersion":
			cfg.KubernetesVersion = strings.Trim(v, `"`)
			continue
		case "network":
			target = &cfg.Network
		case "cluster":
			target = &cfg.Cluster
		case "cni":
			target = &cfg.CNI
		case "nodeGroups":
			target = &cfg.NodeGroups
		case "addons":
			target = &cfg.Addons
		case "protect":
			target = &cfg.Protect
		default:
			return Config{}, fmt.Errorf("config key eksnet:%s: unknown; accepted keys are eksnet:%s", k, strings.Join(Keys, ", eksnet:"))
		}
		if err := checkValue(Namespace+":"+k, v, target); err != nil {
			return Config{}, err
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(v)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(target); err != nil {
			return Config{}, fmt.Errorf("config key eksnet:%s: %w (value %s)", k, err, v)
		}
	}
	return cfg, nil
}
