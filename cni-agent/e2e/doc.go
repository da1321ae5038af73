// Package e2e holds the end-to-end tests of eksnet's node networking: the
// real eksnet-agent (built from cmd/eksnet-agent) runs inside nodes of the
// simulated VPC (package sim), installs the real eksnet-cni plugin and its
// conflist once ready, and the tests call the installed plugin the way a
// container runtime does (ip netns exec into the node, CNI_* variables, the
// conflist's plugin entry on stdin) for pod namespaces they create. Traffic
// then flows through the kernel objects the plugin, the agent and the
// simulation made: pod to pod on one node and across nodes, and to the
// simulated internet, whose echo reports the source address it saw.
//
// The nodes, agents, plugin execs and probes come from package simcluster,
// the library `eksnet sim run` and the benchmark and crash tests use too, so
// these tests exercise the same harness users run. There is no non-test code
// here; the package exists so these tests have a home that is neither the
// agent's nor the plugin's.
package e2e
