package stacks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/eksnet/eksnet/internal/suggest"
)

// Namespace is the Pulumi config namespace of every eksnet key.
const Namespace = "eksnet"

// Keys are the accepted `eksnet:` config keys: the top-level fields of
// Config. Object values (network, cluster, cni, addons, nodeGroups) merge
// over the preset, so `pulumi config set --path eksnet:network.nat per-az`
// changes only that field.
var Keys = []string{"preset", "clusterName", "kubernetesVersion", "network", "cluster", "cni", "nodeGroups", "addons", "protect"}

// Resolve builds the Config of stack env from its config as Pulumi holds
// it: "namespace:key" to the value the engine hands a program (strings
// raw, structured values JSON); secret lists the keys whose values are
// secrets. It is the one decoder of a stack's settings: the eksnet
// commands reach it through the stack file (Load), plain `pulumi up`
// through the engine's config (infra.ConfigFromPulumi), so a key is taken
// or refused the same way, with the same message, whichever runs.
//
// The preset named by eksnet:preset (default dev) comes first, then every
// other eksnet: value is laid over it. aws:region is the region and
// aws:profile the kubeconfig's default profile; other namespaces are not
// eksnet's and are passed over. Unknown keys and unknown fields are errors
// naming the key, so a typo never silently keeps a default; a value of the
// wrong type is a *ValueError naming the key path and the type wanted; no
// eksnet key holds a secret.
func Resolve(env string, config map[string]string, secret []string) (Config, error) {
	values := map[string]string{}
	// Sorted, so a stack with several bad keys always names the same one.
	for _, k := range slices.Sorted(maps.Keys(config)) {
		ns, key, ok := strings.Cut(k, ":")
		if !ok {
			return Config{}, fmt.Errorf("config key %q: want namespace:key (e.g. eksnet:network)", k)
		}
		if ns != Namespace {
			continue
		}
		if slices.Contains(secret, k) {
			return Config{}, fmt.Errorf("config key %s: secret values are not supported for eksnet settings", k)
		}
		values[key] = config[k]
	}
	cfg, err := overlay(env, config["aws:region"], values)
	if err == nil && cfg.Cluster.KubeconfigProfile == "" {
		// The profile the AWS provider deploys with is the one the
		// kubeconfig should use.
		cfg.Cluster.KubeconfigProfile = config["aws:profile"]
	}
	return cfg, err
}

// unknownKey is the error for eksnet:key, which is none of Keys: a
// *ValueError whose key is the one to point at, with the nearest accepted
// keys when one is close.
func unknownKey(key string) error {
	bare := strings.TrimPrefix(key, Namespace+":")
	msg := "unknown"
	if s := suggest.Closest(bare, Keys, 2); len(s) > 0 {
		msg += " (did you mean " + Namespace + ":" + strings.Join(s, ", "+Namespace+":") + "?)"
	}
	return &ValueError{Key: key, UnknownField: true,
		Msg: msg + "; accepted keys are " + Namespace + ":" + strings.Join(Keys, ", "+Namespace+":")}
}

// overlay lays values (eksnet: keys without the namespace) over the preset
// values["preset"] of stack env in region.
func overlay(env, region string, values map[string]string) (Config, error) {
	preset := values["preset"]
	if preset == "" {
		preset = PresetDev
	}
	cfg, err := Preset(preset, env, region)
	if err != nil {
		return Config{}, fmt.Errorf("eksnet:%w", err)
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
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
			return Config{}, unknownKey(Namespace + ":" + k)
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
