package reliability

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/eksnet/eksnet/sim/simcluster"
)

// bins are the agent and plugin built from this checkout for the run.
var bins simcluster.Binaries

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "eksnet-reliability-bins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, ok := simcluster.SourceRoot(wd)
	if !ok {
		fmt.Fprintf(os.Stderr, "no eksnet source tree at or above %s\n", wd)
		return 1
	}
	build := simcluster.BuildBinaries
	if raceEnabled {
		build = simcluster.BuildRaceAgent
	}
	bins, err = build(ctx, root, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
