package simrun

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/eksnet/eksnet/sim"
	"github.com/eksnet/eksnet/sim/fakeec2"
)

// EC2Limits builds the simulated EC2's instance limits: the instance table,
// except for the types overridden by specs of the form TYPE=ENIS or
// TYPE=ENISxIPS (e.g. t3.medium=2 or t3.medium=2x6). It answers "what if
// this account or type gives fewer ENIs or addresses than the table says":
// the agents, the plugin and the user data still believe the table, so a
// promise the EC2 cannot keep shows up as pods that cannot be wired.
func EC2Limits(specs []string) (func(instanceType string) (fakeec2.Limits, error), error) {
	type override struct{ enis, ips int }
	over := map[string]override{}
	for _, s := range specs {
		typ, val, ok := strings.Cut(s, "=")
		typ = strings.TrimSpace(typ)
		if !ok || typ == "" {
			return nil, fmt.Errorf("--ec2-limit %q: want TYPE=ENIS or TYPE=ENISxIPS, e.g. t3.medium=2x6", s)
		}
		if _, err := sim.TableLimits(typ); err != nil {
			return nil, fmt.Errorf("--ec2-limit %q: instance type %s: %w", s, typ, err)
		}
		enis, ips, hasIPs := strings.Cut(strings.TrimSpace(val), "x")
		var o override
		var err error
		if o.enis, err = strconv.Atoi(enis); err != nil || o.enis < 1 {
			return nil, fmt.Errorf("--ec2-limit %q: ENIs %q: want an integer >= 1", s, enis)
		}
		if hasIPs {
			if o.ips, err = strconv.Atoi(ips); err != nil || o.ips < 1 {
				return nil, fmt.Errorf("--ec2-limit %q: IPv4 addresses per ENI %q: want an integer >= 1", s, ips)
			}
		}
		over[typ] = o
	}
	return func(instanceType string) (fakeec2.Limits, error) {
		l, err := sim.TableLimits(instanceType)
		if err != nil {
			return l, err
		}
		if o, ok := over[instanceType]; ok {
			l.MaxENIs = o.enis
			if o.ips > 0 {
				l.IPv4PerENI = o.ips
			}
		}
		return l, nil
	}, nil
}
