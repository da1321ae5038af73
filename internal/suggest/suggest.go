// Package suggest finds the accepted names closest to a mistyped one, so an
// error can say "did you mean t3.medium?". One definition for every input
// eksnet checks against a list: instance types, regions, agent settings.
package suggest

import (
	"cmp"
	"slices"
)

// Closest returns up to n of names within a third of key's length (at least
// 2) in edit distance, nearest first, then the longest common prefix, then
// by name. Names further away would be noise.
func Closest(key string, names []string, n int) []string {
	if key == "" {
		return nil
	}
	limit := max(2, len(key)/3)
	type cand struct {
		name         string
		dist, prefix int
	}
	var cands []cand
	for _, name := range names {
		if d := EditDistance(key, name); d <= limit {
			cands = append(cands, cand{name, d, commonPrefix(key, name)})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.dist, b.dist), cmp.Compare(b.prefix, a.prefix), cmp.Compare(a.name, b.name))
	})
	out := make([]string, 0, min(n, len(cands)))
	for _, c := range cands[:min(n, len(cands))] {
		out = append(out, c.name)
	}
	return out
}

// EditDistance is the Levenshtein distance between a and b, in bytes (the
// names eksnet checks are ASCII).
func EditDistance(a, b string) int {
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

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
