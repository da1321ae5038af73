// Command eksnet-agent is the node daemon of eksnet: user data starts it
// (before kubelet) with `eksnet-agent run`; it owns the node's pod addresses
// and serves the eksnet-cni plugin. `eksnet-agent status` shows its pool.
//
// Exit status: 0 on success, 1 when the agent or a command failed, 2 on bad
// usage (an unknown command or flag, an extra argument, an invalid setting
// in a flag, the environment or agent.env), as eksnet's: both use
// internal/cli.
package main

import "github.com/eksnet/eksnet/internal/cli"

// version is set at release builds with -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	cli.Main("eksnet-agent", Run)
}
