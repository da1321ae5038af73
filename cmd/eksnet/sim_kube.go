package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/eksnet/eksnet/infra/plan"
	"github.com/eksnet/eksnet/sim/kube"
	"github.com/eksnet/eksnet/sim/simcluster"
	"github.com/eksnet/eksnet/sim/simrun"
)

const kubeCacheHint = "$EKSNET_SIM_CACHE or ~/.cache/eksnet/sim"

// kubeOptions builds (once, then from the cache) the upstream binaries of
// the Kubernetes layer and the local images' programs.
func kubeOptions(ctx context.Context, a *app) (*simrun.KubeOptions, error) {
	cache, err := kube.CacheDir()
	if err != nil {
		return nil, err
	}
	bins, err := kube.EnsureBinaries(ctx, cache, a.stderr)
	if err != nil {
		return nil, fmt.Errorf("sim run --kubernetes: %w (or run without Kubernetes: --kubernetes=false)", err)
	}
	wd, _ := os.Getwd()
	root, ok := simcluster.SourceRoot(wd)
	if !ok {
		return nil, fmt.Errorf("sim run --kubernetes: the pause and echo images are built from the eksnet source tree, and none is at or above %s (or run without Kubernetes: --kubernetes=false)", wd)
	}
	// Rebuilt from this tree every run (seconds, cached by go build), into
	// the cache folder so nothing is left in /tmp.
	pause, echo, err := kube.BuildImageBinaries(ctx, root, filepath.Join(cache, "images"))
	if err != nil {
		return nil, err
	}
	return &simrun.KubeOptions{Bins: bins, PauseBin: pause, EchoBin: echo}, nil
}

// planLimitRanges are the LimitRanges the plan creates in the cluster.
func planLimitRanges(p *plan.Plan) []simrun.LimitRange {
	var out []simrun.LimitRange
	for _, r := range p.Resources {
		if r.Type != "kubernetes:core/v1:LimitRange" {
			continue
		}
		meta, _ := r.Inputs["metadata"].(map[string]any)
		spec, _ := r.Inputs["spec"].(map[string]any)
		ns, _ := meta["namespace"].(string)
		name, _ := meta["name"].(string)
		if ns == "" || spec == nil {
			continue
		}
		if name == "" {
			name = r.Name
		}
		out = append(out, simrun.LimitRange{Namespace: ns, Name: name, Spec: spec})
	}
	return out
}
