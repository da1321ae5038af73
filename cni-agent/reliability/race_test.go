//go:build race

package reliability

// raceEnabled: under `go test -race` (as CI runs this package) the agent
// the suite storms is race-built too, and a data race it reports fails the
// test whose cluster it ran in.
const raceEnabled = true
