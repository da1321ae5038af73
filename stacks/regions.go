package stacks

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
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
	if s := closest(name, regionNames, 3); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, ", ") + "?"
	}
	return Region{}, fmt.Errorf("%s (accepted: %s)", msg, strings.Join(regionNames, ", "))
}

// closest returns up to n names within a small edit distance of s, nearest first.
func closest(s string, names []string, n int) []string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	limit := max(2, len(s)/3)
	for _, name := range names {
		if d := editDistance(s, name); d <= limit {
			cs = append(cs, cand{name, d})
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return a.d - b.d })
	var out []string
	for _, c := range cs[:min(n, len(cs))] {
		out = append(out, c.name)
	}
	return out
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
