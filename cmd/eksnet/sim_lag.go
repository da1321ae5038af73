package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/eksnet/eksnet/sim"
)

// lagFlags are the simulated VPC's lagging read paths, one set of flags
// with one set of defaults for `sim up` and `sim run`.
type lagFlags struct {
	imds, describe time.Duration
}

func (l *lagFlags) bind(f *pflag.FlagSet) {
	f.DurationVar(&l.imds, "imds-delay", sim.DefaultIMDSDelay, "how long an EC2 change takes to show in IMDS, as in AWS (0 = at once)")
	f.DurationVar(&l.describe, "describe-delay", sim.DefaultDescribeDelay, "how long an EC2 change takes to show in EC2's Describe answers, which are eventually consistent (0 = at once)")
}

func (l lagFlags) validate() error {
	if l.imds < 0 {
		return fmt.Errorf("--imds-delay %v: must not be negative (0 turns the lag off)", l.imds)
	}
	if l.describe < 0 {
		return fmt.Errorf("--describe-delay %v: must not be negative (0 turns the lag off)", l.describe)
	}
	return nil
}

func (l lagFlags) args() []string {
	return []string{"--imds-delay", l.imds.String(), "--describe-delay", l.describe.String()}
}
