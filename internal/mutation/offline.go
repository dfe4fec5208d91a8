package mutation

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode/utf8"
)

// Offline is the built-in [Mutator]: it rewrites an English prompt with
// deterministic operators and needs no network or credentials.
//
// Each candidate applies two or three operators, chosen and parameterised by
// a random source seeded from Request.Seed and the candidate's position, so
// the same request always yields the same candidates and different seeds
// yield different combinations. Operators that add a sentence draw it from a
// fixed bank and first remove any sentence of the same bank, so repeated
// generations vary a prompt without growing it. Placeholders are masked
// before any operator runs and cannot be altered, and quoted code stays as
// it is. Candidates longer than Request.MaxLength are not proposed.
//
// Operators work on sentences: prose is split at sentence ends, and in a
// paragraph of short lines a line that does not end a sentence and is
// followed by one starting in lower case is joined to it, so that no
// operator moves or edits half a sentence.
//
// The operators, named in [Candidate.Operator]:
//
//   - tone: sets a tone of voice ("Use a warm, friendly tone.");
//   - persona: gives the assistant a role, or adds a trait to the role the
//     prompt already gives;
//   - audience: says who the reader is;
//   - format: adds guidance on the shape of the answer;
//   - verification: asks for a check of the answer before replying;
//   - brevity: removes filler words and wordy phrases, or asks for a short
//     reply;
//   - emphasis: marks the most binding instruction as important, or
//     capitalises its keyword ("NEVER");
//   - wording: swaps phrases for synonyms ("make sure" ↔ "ensure");
//   - ordering: reorders the sentences that stand on their own;
//   - structure: turns prose instructions into a list, or a list into prose.
//
// The zero value is ready to use and safe for concurrent use.
type Offline struct{}

// Name returns "offline".
func (Offline) Name() string { return "offline" }

// Model returns "".
func (Offline) Model() string { return "" }

// offlineTries bounds the draws per candidate before the mutator settles for
// fewer candidates than asked for.
const offlineTries = 12

// Mutate returns up to req.Count distinct candidates that differ from the
// parent. It returns fewer when the prompt offers too little to vary.
// req.Instructions is ignored: the operators cannot follow free text.
func (Offline) Mutate(ctx context.Context, req Request) ([]Candidate, error) {
	if strings.TrimSpace(req.Parent) == "" {
		return nil, errors.New("offline mutator: the parent prompt is empty")
	}
	masked, originals := maskPlaceholders(req.Parent)
	base := parseDocument(masked)
	seen := map[string]bool{normalizedText(req.Parent): true}
	var out []Candidate
	for i := 0; i < req.Count; i++ {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		rng := rand.New(rand.NewPCG(req.Seed, seedStreamOffline^uint64(i)))
		for range offlineTries {
			doc := base.clone()
			applied := applyOperators(doc, rng, 2+rng.IntN(2))
			if len(applied) == 0 {
				continue
			}
			text := unmaskPlaceholders(doc.render(), originals)
			key := normalizedText(text)
			if seen[key] || !slices.Equal(Placeholders(text), Placeholders(req.Parent)) ||
				(req.MaxLength > 0 && utf8.RuneCountInString(text) > req.MaxLength) {
				continue
			}
			seen[key] = true
			out = append(out, Candidate{Text: text, Operator: strings.Join(applied, "+")})
			break
		}
	}
	return out, nil
}

// applyOperators applies up to n operators in a random order and returns the
// names of those that changed the document.
func applyOperators(doc *document, rng *rand.Rand, n int) []string {
	var applied []string
	for _, i := range rng.Perm(len(operators)) {
		if len(applied) == n {
			break
		}
		if operators[i].apply(doc, rng) {
			applied = append(applied, operators[i].name)
		}
	}
	return applied
}

// operator is one rewriting step. apply reports whether it changed doc.
type operator struct {
	name  string
	apply func(doc *document, rng *rand.Rand) bool
}

// operators is the catalogue, in a fixed order so that seeds are stable.
var operators = []operator{
	{"tone", directive(toneBank)},
	{"persona", applyPersona},
	{"audience", directive(audienceBank)},
	{"format", directive(formatBank)},
	{"verification", directive(verificationBank)},
	{"brevity", applyBrevity},
	{"emphasis", applyEmphasis},
	{"wording", applyWording},
	{"ordering", applyOrdering},
	{"structure", applyStructure},
}

// Sentence banks. A sentence of a bank is recognised wherever it appears, so
// an operator replaces its own earlier output instead of adding to it.
var (
	toneBank = []string{
		"Use a warm, friendly tone.",
		"Keep the tone professional and precise.",
		"Write in a calm, reassuring voice.",
		"Sound confident and direct.",
		"Keep the tone neutral and matter-of-fact.",
		"Be upbeat and encouraging.",
		"Be polite but not stiff.",
	}
	audienceBank = []string{
		"Assume the reader is new to the topic.",
		"Write for a busy reader who wants the key point first.",
		"Assume the reader already knows the basics.",
		"Avoid jargon, and explain any technical term you must use.",
		"Write so that a non-native English speaker can follow easily.",
	}
	formatBank = []string{
		"Use short paragraphs.",
		"Put the most important point in the first sentence.",
		"Use bullet points where they make the answer easier to scan.",
		"End with a clear next step for the reader.",
		"Answer in plain text without headings.",
		"Start with a one-sentence summary, then give the details.",
	}
	verificationBank = []string{
		"Before replying, check that your answer covers every part of the request.",
		"If the request is ambiguous, ask one clarifying question instead of guessing.",
		"If you are unsure about something, say so plainly rather than guessing.",
		"Think the request through step by step before you answer.",
		"Double-check names, numbers and dates before you reply.",
	}
	brevityBank = []string{
		"Keep the reply short.",
		"Be brief and to the point.",
		"Get to the point without preamble.",
		"Leave out anything the reader did not ask for.",
	}
	personaBank = []string{
		"You are a helpful, knowledgeable assistant.",
		"You are an experienced specialist who explains things clearly.",
		"You are a careful assistant who values accuracy.",
		"You are a friendly expert who respects the reader's time.",
	}
	traitBank = []string{
		"Bring years of hands-on experience to this role.",
		"Approach every request with a professional's judgement.",
		"Stay patient and attentive in this role.",
		"Act as the most reliable person in this role would.",
	}
	listIntroBank = []string{
		"Follow these guidelines:",
		"Keep these points in mind:",
		"Your instructions:",
		"Guidelines:",
	}
	// "Essential: " is also what the wording operator makes of "Important: ".
	emphasisPrefixes = []string{"Important: ", "Key point: ", "Crucial: ", "Note well: ", "Essential: "}
)

// inBank reports whether s is one of bank's sentences, ignoring case and
// surrounding space.
func inBank(bank []string, s string) bool {
	s = strings.TrimSpace(s)
	return slices.ContainsFunc(bank, func(b string) bool { return strings.EqualFold(b, s) })
}

// pickOther draws a sentence of bank that is not in avoid.
func pickOther(rng *rand.Rand, bank []string, avoid []string) string {
	choices := slices.DeleteFunc(slices.Clone(bank), func(b string) bool { return inBank(avoid, b) })
	if len(choices) == 0 {
		choices = bank
	}
	return choices[rng.IntN(len(choices))]
}

// directive returns an operator that sets one sentence of bank: it removes
// any sentence of the bank already present and inserts a different one where
// the standing instructions end.
func directive(bank []string) func(*document, *rand.Rand) bool {
	return func(doc *document, rng *rand.Rand) bool {
		removed := doc.removeSentences(func(s string) bool { return inBank(bank, s) })
		doc.insertDirective(pickOther(rng, bank, removed))
		return true
	}
}
