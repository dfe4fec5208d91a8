package mutation

import (
	"strings"
	"unicode"
)

// shingleSize is the number of consecutive words in one shingle.
const shingleSize = 3

// Novelty measures how different b is from a, from 0 (the same wording) to 1
// (no wording in common).
//
// It is 1 − J, where J is the Jaccard similarity of the two texts' sets of
// word 3-shingles (every run of three consecutive words). Before shingling,
// a text is lowercased, split on whitespace, and each word loses the
// punctuation at its ends, so "Be brief!" and "be  brief." are the same text.
// A text of fewer than three words forms a single shingle of all its words.
// Two texts without words have novelty 0. The measure is symmetric.
//
// Word shingles reward changes a reader notices — new sentences, reordered
// clauses, replaced phrases — and ignore formatting noise. A single swapped
// word changes up to three shingles, so short prompts reach a given novelty
// with fewer edits than long ones.
func Novelty(a, b string) float64 {
	return 1 - jaccard(shingles(a), shingles(b))
}

// normalizeWords lowercases text, splits it on whitespace and trims
// punctuation from both ends of each word, dropping words that were only
// punctuation. Braces are kept so that placeholders remain words.
func normalizeWords(text string) []string {
	fields := strings.Fields(strings.ToLower(text))
	words := fields[:0]
	for _, f := range fields {
		w := strings.TrimFunc(f, func(r rune) bool {
			return unicode.IsPunct(r) && r != '{' && r != '}' && r != '_'
		})
		if w != "" {
			words = append(words, w)
		}
	}
	return words
}

// normalizedText is the canonical form used to detect duplicates: the
// normalised words joined by single spaces.
func normalizedText(text string) string {
	return strings.Join(normalizeWords(text), " ")
}

// shingleSet is a set of word shingles.
type shingleSet map[string]struct{}

// shingles returns the set of word 3-shingles of text.
func shingles(text string) shingleSet {
	words := normalizeWords(text)
	set := make(shingleSet, max(len(words)-shingleSize+1, 1))
	if len(words) == 0 {
		return set
	}
	if len(words) < shingleSize {
		set[strings.Join(words, " ")] = struct{}{}
		return set
	}
	for i := 0; i+shingleSize <= len(words); i++ {
		set[strings.Join(words[i:i+shingleSize], " ")] = struct{}{}
	}
	return set
}

// jaccard returns |a ∩ b| / |a ∪ b|, and 1 when both sets are empty.
func jaccard(a, b shingleSet) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	common := 0
	for s := range a {
		if _, ok := b[s]; ok {
			common++
		}
	}
	return float64(common) / float64(len(a)+len(b)-common)
}

// coverage returns the share of a's shingles that also occur in b, and 0 when
// a is empty.
func coverage(a, b shingleSet) float64 {
	if len(a) == 0 {
		return 0
	}
	common := 0
	for s := range a {
		if _, ok := b[s]; ok {
			common++
		}
	}
	return float64(common) / float64(len(a))
}
