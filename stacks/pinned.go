package stacks

import (
	"errors"
	"fmt"
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
	return errors.Join(errs...)
}
