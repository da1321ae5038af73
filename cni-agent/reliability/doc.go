// Package reliability holds the agent's reliability suite: tests only, run
// by CI as root on the simulated VPC (package simcluster) with the real
// eksnet-agent and eksnet-cni binaries.
//
//   - crash: a 200-pod ADD storm, 16 at a time, with the agent SIGKILLed in
//     the middle and restarted; then no address is held twice, none leaks,
//     and every pod that got a result is reachable.
//   - torn checkpoint: a truncated or corrupt checkpoint is reported and the
//     allocations are rebuilt from the kernel (pod routes) and IMDS, so no
//     live pod's address is handed out again.
//   - cloud faults: throttling with latency, 5xx bursts, an IMDS outage at
//     start and InsufficientCidrBlocks; every pod is wired in the end, the
//     agent never exits, and its backoff shows in the metrics.
//   - bad input: a table of malformed CNI configurations, CNI environments,
//     agent settings, presets and CLI flags, each with its exact error and
//     a check that nothing changed.
//
// The race detector runs on the agent and plugin packages in CI (.ci/run),
// the fuzz targets live beside the parsers they exercise, and the socket's
// peer-credential check is cni-agent/rpc's TestRefusesNonRootPeer. See
// docs/reliability.md. Every test is bounded; none asserts wall-clock time.
package reliability
