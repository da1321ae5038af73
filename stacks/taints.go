package stacks

import "github.com/eksnet/eksnet/bootstrap/userdata"

// eksEffects maps the EKS API's taint effects to Kubernetes' spelling,
// which kubelet registers.
var eksEffects = map[string]string{"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}

// KubeletTaints returns the node group's taints as kubelet registers them
// (the managed node group repeats them in the EKS spelling).
func (ng NodeGroup) KubeletTaints() []userdata.Taint {
	var out []userdata.Taint
	for _, t := range ng.Taints {
		out = append(out, userdata.Taint{Key: t.Key, Value: t.Value, Effect: eksEffects[t.Effect]})
	}
	return out
}
