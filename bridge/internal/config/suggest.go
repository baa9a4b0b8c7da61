package config

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// FlagError rewrites an error of flag.FlagSet.Parse for a person: an
// unknown flag names the closest of known (flag names without dashes),
// and every error ends with where to look (hint).
func FlagError(err error, known []string, hint string) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		return fmt.Errorf("unknown flag --%s%s; %s", name, Suggest(name, known, "--", ""), hint)
	}
	return fmt.Errorf("%w; %s", err, hint)
}

// Suggest returns " (did you mean <prefix>X?)" for the candidate X closest
// to word, when one is close enough to be a typo, else otherwise.
func Suggest(word string, candidates []string, prefix, otherwise string) string {
	best, bestDist := "", len(word)/3+2 // a typo changes a few letters
	for _, c := range candidates {
		if d := distance(word, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return otherwise
	}
	return fmt.Sprintf(" (did you mean %s%s?)", prefix, best)
}

// distance is the Levenshtein distance between a and b: the insertions,
// deletions and substitutions that turn one into the other.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
