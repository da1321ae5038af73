//go:build race

package agent_test

// raceEnabled builds the agent under test with the race detector too, so
// the must-show tests also hunt data races inside the daemon.
const raceEnabled = true
