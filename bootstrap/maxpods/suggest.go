package maxpods

import (
	"cmp"
	"slices"
)

// suggest returns up to n known names closest to key by edit distance, so an
// error for "t3.mediun" can say "did you mean t3.medium?". Names further than
// a third of the input's length away are not suggested: they would be noise.
func (t *Table) suggest(key string, n int) []string {
	if key == "" {
		return nil
	}
	limit := max(2, len(key)/3)
	type cand struct {
		name   string
		dist   int
		prefix int
	}
	var cands []cand
	for _, name := range t.names {
		d := editDistance(key, name)
		if d > limit {
			continue
		}
		cands = append(cands, cand{name, d, commonPrefix(key, name)})
	}
	slices.SortFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.dist, b.dist), cmp.Compare(b.prefix, a.prefix), cmp.Compare(a.name, b.name))
	})
	out := make([]string, 0, n)
	for _, c := range cands {
		if len(out) == n {
			break
		}
		out = append(out, c.name)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b (bytes: EC2 type
// names are ASCII).
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

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
