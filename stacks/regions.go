package stacks

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/eksnet/eksnet/internal/suggest"
)

// regionsTSV is the embedded region table; its header says where the
// names come from.
//
//go:embed regions.tsv
var regionsTSV string

// Region is one AWS region and its availability zones, in the order a
// preset takes them (zones only older accounts have come last).
type Region struct {
	Name      string
	Partition string
	AZs       []string
}

// regions is the parsed table, keyed by name.
var regions, regionNames = mustParseRegions(regionsTSV)

func mustParseRegions(tsv string) (map[string]Region, []string) {
	out := map[string]Region{}
	var names []string
	for i, line := range strings.Split(tsv, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[0] == "" || f[2] == "" {
			panic(fmt.Sprintf("stacks/regions.tsv line %d: want region, partition, zones separated by tabs: %q", i+1, line))
		}
		azs := strings.Split(f[2], ",")
		for _, az := range azs {
			if !strings.HasPrefix(az, f[0]) || len(az) != len(f[0])+1 {
				panic(fmt.Sprintf("stacks/regions.tsv line %d: zone %q is not %s plus a letter", i+1, az, f[0]))
			}
		}
		out[f[0]] = Region{Name: f[0], Partition: f[1], AZs: azs}
		names = append(names, f[0])
	}
	slices.Sort(names)
	return out, names
}

// RegionNames are the accepted aws:region values, sorted.
func RegionNames() []string { return slices.Clone(regionNames) }

// LookupRegion returns region name, or an error naming the closest names.
func LookupRegion(name string) (Region, error) {
	if r, ok := regions[name]; ok {
		return r, nil
	}
	msg := fmt.Sprintf("%q is not an AWS region", name)
	if s := suggest.Closest(name, regionNames, 3); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, ", ") + "?"
	}
	return Region{}, fmt.Errorf("%s (accepted: %s)", msg, strings.Join(regionNames, ", "))
}
