// Command stack is the eksnet Pulumi program that Pulumi.yaml points at, so
// plain `pulumi up -s dev` works: it resolves the stack's config (preset
// plus `eksnet:` overrides from stacks/Pulumi.<stack>.yaml, as the engine
// passes them) with the decoder the eksnet CLI uses, and builds it. The
// eksnet CLI runs the same build inline through the Automation API.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/eksnet/eksnet/infra"
)

func main() {
	program, withConfig := infra.EngineProgram()
	pulumi.Run(program, withConfig)
}
