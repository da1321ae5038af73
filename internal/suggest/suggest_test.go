package suggest

import (
	"slices"
	"testing"
)

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"kitten", "sitting", 3},
		{"t3.mediun", "t3.medium", 1}, {"us-west2", "us-west-2", 1}, {"EKSNET_MOED", "EKSNET_MODE", 2},
	} {
		if got := EditDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestClosest(t *testing.T) {
	names := []string{"t3.medium", "t3.micro", "t3a.medium", "m5.large"}
	if got := Closest("t3.mediun", names, 2); !slices.Equal(got, []string{"t3.medium", "t3a.medium"}) {
		t.Errorf("Closest(t3.mediun) = %v, want [t3.medium t3a.medium]", got)
	}
	if got := Closest("zzzzzzzz", names, 3); len(got) != 0 {
		t.Errorf("Closest(zzzzzzzz) = %v, want none (too far to be a typo)", got)
	}
	if got := Closest("", names, 3); got != nil {
		t.Errorf("Closest(\"\") = %v, want nil", got)
	}
}
