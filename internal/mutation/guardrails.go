package mutation

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Reason is a stable, machine-readable cause for rejecting a candidate. The
// values are CamelCase so that they can serve as condition and event reasons.
type Reason string

// Reasons a candidate is rejected, in the order [Guardrails.Check] tests them.
const (
	// ReasonEmpty: the candidate has no visible text.
	ReasonEmpty Reason = "Empty"
	// ReasonTooLong: the candidate has more than MaxLength characters.
	ReasonTooLong Reason = "TooLong"
	// ReasonForbiddenPattern: a forbidden pattern matches the candidate.
	ReasonForbiddenPattern Reason = "ForbiddenPattern"
	// ReasonPlaceholderMissing: a placeholder of the parent is absent.
	ReasonPlaceholderMissing Reason = "PlaceholderMissing"
	// ReasonPlaceholderInvented: the candidate has a placeholder the parent
	// lacks.
	ReasonPlaceholderInvented Reason = "PlaceholderInvented"
	// ReasonEchoesInstructions: the candidate copies the mutator's extra
	// instructions, which were meant for the mutator and not for the prompt.
	ReasonEchoesInstructions Reason = "EchoesInstructions"
	// ReasonDuplicate: after normalisation the candidate equals the parent, a
	// prompt in the history, or a candidate admitted before it.
	ReasonDuplicate Reason = "Duplicate"
	// ReasonTooSimilar: the candidate's novelty against the parent, the
	// history or an earlier admitted candidate is below MinNovelty.
	ReasonTooSimilar Reason = "TooSimilar"
)

// Rejection records why a candidate was not admitted.
type Rejection struct {
	// Candidate is the rejected candidate.
	Candidate Candidate
	// Reason is the stable cause.
	Reason Reason
	// Message is a short explanation for people; it never quotes more than a
	// few words of any prompt.
	Message string
}

// String returns "Reason: Message".
func (r Rejection) String() string {
	return string(r.Reason) + ": " + r.Message
}

// echoMinWords is the shortest instruction text, in words, that is checked
// for echoes. Shorter instructions ("be formal") are legitimate prompt
// phrases.
const echoMinWords = 4

// echoCoverage is the share of the instructions' shingles that, once present
// in a candidate (and not in its parent), counts as an echo.
const echoCoverage = 0.6

// Guardrails decide whether a candidate may join a portfolio. The zero value
// admits any non-empty candidate that is not a duplicate.
type Guardrails struct {
	// MaxLength is the largest number of characters (Unicode code points) a
	// candidate may have. Zero means no limit.
	MaxLength int
	// Forbidden are patterns that must not match anywhere in a candidate. Use
	// [CompilePatterns] to build them from configuration.
	Forbidden []*regexp.Regexp
	// PreservePlaceholders requires a candidate to have exactly the parent's
	// set of placeholder names (see [Placeholders]); how often each appears
	// does not matter.
	PreservePlaceholders bool
	// MinNovelty is the smallest [Novelty] a candidate must have against the
	// parent, every prompt in the history and every candidate admitted before
	// it, in [0, 1]. Zero only rejects exact duplicates.
	MinNovelty float64
	// Instructions are the extra instructions given to the mutator. A
	// candidate that reproduces most of them (and whose parent does not) is
	// rejected with [ReasonEchoesInstructions]. Instructions shorter than four
	// words are not checked.
	Instructions string
}

// CompilePatterns compiles RE2 patterns for [Guardrails.Forbidden]. The error
// names the first pattern that does not compile, by position and text.
func CompilePatterns(patterns []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, 0, len(patterns))
	for i, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("forbidden pattern %d %q is not valid RE2: %w", i, p, err)
		}
		out = append(out, re)
	}
	return out, nil
}

// Validate reports configuration errors: a negative MaxLength, a MinNovelty
// outside [0, 1], or a nil pattern.
func (g Guardrails) Validate() error {
	var errs []error
	if g.MaxLength < 0 {
		errs = append(errs, fmt.Errorf("maxLength %d is negative", g.MaxLength))
	}
	if !(g.MinNovelty >= 0 && g.MinNovelty <= 1) {
		errs = append(errs, fmt.Errorf("minNovelty %v is outside [0, 1]", g.MinNovelty))
	}
	for i, re := range g.Forbidden {
		if re == nil {
			errs = append(errs, fmt.Errorf("forbidden pattern %d is nil", i))
		}
	}
	return errors.Join(errs...)
}

// Check tests one candidate against the parent and the history (every prompt
// the portfolio ever had, retired ones included). It returns nil when the
// candidate is admissible, otherwise the first failed rule.
func (g Guardrails) Check(c Candidate, parent string, history []string) *Rejection {
	return g.newChecker(parent, history).check(c)
}

// reference is a prompt that candidates are compared with.
type reference struct {
	label      string // "the parent", "history prompt 3", "candidate 1"
	normalized string
	shingles   shingleSet
}

// checker applies Guardrails with the parent and history prepared once, and
// grows its references as candidates are admitted.
type checker struct {
	g                  Guardrails
	parentPlaceholders []string
	instructions       shingleSet // nil when instructions are not checked
	parentEchoes       bool
	refs               []reference
	admitted           int
}

func (g Guardrails) newChecker(parent string, history []string) *checker {
	c := &checker{
		g:                  g,
		parentPlaceholders: Placeholders(parent),
		refs:               make([]reference, 0, len(history)+1),
	}
	if len(normalizeWords(g.Instructions)) >= echoMinWords {
		c.instructions = shingles(g.Instructions)
		c.parentEchoes = coverage(c.instructions, shingles(parent)) >= echoCoverage
	}
	c.add("the parent", parent)
	for i, h := range history {
		c.add(fmt.Sprintf("history prompt %d", i), h)
	}
	return c
}

func (c *checker) add(label, text string) {
	c.refs = append(c.refs, reference{label: label, normalized: normalizedText(text), shingles: shingles(text)})
}

// admit records an admitted candidate so that later candidates are compared
// with it too.
func (c *checker) admit(text string) {
	c.admitted++
	c.add(fmt.Sprintf("admitted candidate %d", c.admitted), text)
}

func (c *checker) check(cand Candidate) *Rejection {
	reject := func(reason Reason, format string, args ...any) *Rejection {
		return &Rejection{Candidate: cand, Reason: reason, Message: fmt.Sprintf(format, args...)}
	}
	text := cand.Text
	if strings.TrimSpace(text) == "" {
		return reject(ReasonEmpty, "the candidate has no text")
	}
	if n := utf8.RuneCountInString(text); c.g.MaxLength > 0 && n > c.g.MaxLength {
		return reject(ReasonTooLong, "the candidate has %d characters, more than the limit of %d", n, c.g.MaxLength)
	}
	for i, re := range c.g.Forbidden {
		if re.MatchString(text) {
			return reject(ReasonForbiddenPattern, "forbidden pattern %d %s matches", i, clip(strconv.Quote(re.String()), 60))
		}
	}
	if c.g.PreservePlaceholders {
		missing, invented := placeholderDiff(c.parentPlaceholders, Placeholders(text))
		if len(missing) > 0 {
			return reject(ReasonPlaceholderMissing, "placeholders of the parent are missing: %s", clip(strings.Join(missing, ", "), 80))
		}
		if len(invented) > 0 {
			return reject(ReasonPlaceholderInvented, "placeholders not in the parent: %s", clip(strings.Join(invented, ", "), 80))
		}
	}
	sh := shingles(text)
	if c.instructions != nil && !c.parentEchoes {
		if cov := coverage(c.instructions, sh); cov >= echoCoverage {
			return reject(ReasonEchoesInstructions, "the candidate repeats %.0f%% of the mutator instructions", 100*cov)
		}
	}
	norm := normalizedText(text)
	for _, r := range c.refs {
		if r.normalized == norm {
			return reject(ReasonDuplicate, "the candidate has the same wording as %s", r.label)
		}
	}
	for _, r := range c.refs {
		if n := 1 - jaccard(sh, r.shingles); n < c.g.MinNovelty {
			return reject(ReasonTooSimilar, "novelty %.2f against %s is below the minimum %.2f", n, r.label, c.g.MinNovelty)
		}
	}
	return nil
}
