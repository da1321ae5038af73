package stacks

import (
	"errors"
	"fmt"
	"strings"
)

// RequirePinned is what an update (not a preview or plan) needs besides
// ValidateExposure: nothing it deploys may float, so the same stack file
// deploys the same bytes tomorrow. The values are not knowable offline,
// so the stack never guesses them; each refusal says how to set one.
func (c Config) RequirePinned() error {
	var errs []error
	if c.Addons.DemoApp && c.Addons.DemoImage == "" {
		errs = append(errs, fmt.Errorf("eksnet:addons.demoImage: not set while demoApp is true; the demo runs only an image pinned by digest and none is knowable offline: look it up (`crane digest %s:latest`) and set it, e.g. `eksnet stack set %s addons.demoImage %s@sha256:<digest>`, or set demoApp false", DemoImageRepository, c.Env, DemoImageRepository))
	}
	var unpinned []string
	for i, ng := range c.NodeGroups {
		if ng.AMIID == "" {
			unpinned = append(unpinned, fmt.Sprintf("eksnet:nodeGroups[%d].amiId (node group %s)", i, ng.Name))
		}
	}
	if len(unpinned) > 0 {
		// Read from SSM at every update, the recommended AMI would roll
		// every node group the day AWS publishes a new one.
		errs = append(errs, fmt.Errorf("%s: not pinned; an update never reads the floating recommended AMI (a new AWS release would roll the group unasked): run `eksnet ami update %s` to resolve it once into the stack file, or set the AMI ID yourself", strings.Join(unpinned, ", "), c.Env))
	}
	return errors.Join(errs...)
}
