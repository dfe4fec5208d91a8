package mutation

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	// personaRE recognises a sentence that gives the assistant a role.
	personaRE = regexp.MustCompile(`(?i)^(you are|you're|act as|as an? |your role is)\b`)
	// anaphoraRE recognises a sentence that leans on the one before it and
	// so must not be moved away from it.
	anaphoraRE = regexp.MustCompile(`(?i)^(this|that|these|those|it|its|they|them|then|also|finally|otherwise|however|such|there|he|she|if so|in that case|next|afterwards|after that|for example|for instance|e\.g\.)\b`)
	// bindingRE finds the keyword that makes an instruction binding.
	bindingRE = regexp.MustCompile(`(?i)\b(never|always|must|do not|don't|only|make sure|ensure)\b`)
	// allBanks are the sentences that operators add; other operators leave
	// them alone so that they stay recognisable.
	allBanks = [][]string{toneBank, audienceBank, formatBank, verificationBank, brevityBank, personaBank, traitBank}
)

// inAnyBank reports whether s is a sentence some operator added.
func inAnyBank(s string) bool {
	for _, b := range allBanks {
		if inBank(b, s) {
			return true
		}
	}
	return false
}

// isPersona reports whether the addressed sentence is the prompt's role
// statement: the first sentence of the first block, giving a role.
func isPersona(doc *document, r sentenceRef) bool {
	return r.block == 0 && r.index == 0 && !r.item && personaRE.MatchString(doc.get(r))
}

// applyPersona gives the assistant a role when the prompt has none, swaps a
// role this operator added earlier, or adds a trait to the prompt's own role.
func applyPersona(doc *document, rng *rand.Rand) bool {
	if len(doc.blocks) > 0 && doc.blocks[0].kind == textBlock && len(doc.blocks[0].sentences) > 0 {
		first := doc.blocks[0].sentences[0]
		switch {
		case inBank(personaBank, first):
			doc.blocks[0].sentences[0] = pickOther(rng, personaBank, []string{first})
			return true
		case personaRE.MatchString(first):
			removed := doc.removeSentences(func(s string) bool { return inBank(traitBank, s) })
			doc.blocks[0].sentences = insertAt(doc.blocks[0].sentences, 1, pickOther(rng, traitBank, removed))
			return true
		}
		doc.blocks[0].sentences = insertAt(doc.blocks[0].sentences, 0, personaBank[rng.IntN(len(personaBank))])
		return true
	}
	doc.blocks = append([]block{{kind: textBlock, sentences: []string{personaBank[rng.IntN(len(personaBank))]}}}, doc.blocks...)
	return true
}

// rewriteRule replaces wordy text.
type rewriteRule struct {
	re   *regexp.Regexp
	repl string
}

// fillerRules shorten a sentence without changing what it asks for.
var fillerRules = []rewriteRule{
	{regexp.MustCompile(`(?i)^(please|kindly),?\s+`), ""},
	{regexp.MustCompile(`(?i),\s*please\b`), ""},
	{regexp.MustCompile(`(?i)\b(very|really|basically|actually|truly)\s+`), ""},
	{regexp.MustCompile(`(?i)\bin order to\b`), "to"},
	{regexp.MustCompile(`(?i)\bdue to the fact that\b`), "because"},
	{regexp.MustCompile(`(?i)\bin the event that\b`), "if"},
	{regexp.MustCompile(`(?i)\bat this point in time\b`), "now"},
	{regexp.MustCompile(`(?i)\bfor the purpose of\b`), "for"},
	{regexp.MustCompile(`(?i)\b(is|are) able to\b`), "can"},
	{regexp.MustCompile(`(?i)^it is (very )?important (that you|to)\s+`), ""},
	{regexp.MustCompile(`(?i)^make sure (that )?you\s+`), ""},
}

// applyBrevity removes filler from every sentence; when there is none, or
// by chance, it also asks for a short reply.
func applyBrevity(doc *document, rng *rand.Rand) bool {
	changed := false
	for _, r := range doc.refs() {
		s := doc.get(r)
		if inAnyBank(s) {
			continue
		}
		t := s
		for _, rule := range fillerRules {
			t = rule.re.ReplaceAllString(t, rule.repl)
		}
		if t != s {
			doc.set(r, upperFirst(strings.Join(strings.Fields(t), " ")))
			changed = true
		}
	}
	if !changed || rng.IntN(2) == 0 {
		directive(brevityBank)(doc, rng)
	}
	return true
}

// applyEmphasis moves the prompt's emphasis: it removes the emphasis markers
// this operator adds, then marks one instruction, preferring binding ones,
// with a prefix such as "Important: " or by capitalising its keyword.
func applyEmphasis(doc *document, rng *rand.Rand) bool {
	var plain, binding []sentenceRef
	previous := map[sentenceRef]string{}
	for _, r := range doc.refs() {
		s := doc.get(r)
		for _, p := range emphasisPrefixes {
			if strings.HasPrefix(s, p) {
				s = upperFirst(strings.TrimPrefix(s, p))
				doc.set(r, s)
				previous[r] = p
			}
		}
		if !terminal(s) || len(strings.Fields(s)) < 3 || inAnyBank(s) || isPersona(doc, r) {
			continue
		}
		plain = append(plain, r)
		if loc := bindingRE.FindStringIndex(s); loc != nil && s[loc[0]:loc[1]] != strings.ToUpper(s[loc[0]:loc[1]]) {
			binding = append(binding, r)
		}
	}
	if len(plain) == 0 {
		return len(previous) > 0
	}
	if len(binding) > 0 && rng.IntN(2) == 0 {
		r := binding[rng.IntN(len(binding))]
		s := doc.get(r)
		loc := bindingRE.FindStringIndex(s)
		doc.set(r, s[:loc[0]]+strings.ToUpper(s[loc[0]:loc[1]])+s[loc[1]:])
		return true
	}
	pool := plain
	if len(binding) > 0 {
		pool = binding
	}
	r := pool[rng.IntN(len(pool))]
	prefix := pickOther(rng, emphasisPrefixes, []string{previous[r]})
	doc.set(r, prefix+doc.get(r))
	return true
}

// synonym is a phrase and a replacement; twoWay pairs may also be replaced
// in the other direction.
type synonym struct {
	from, to string
	twoWay   bool
}

// synonyms hold only swaps that read correctly in any position.
var synonyms = []synonym{
	{"make sure", "ensure", true},
	{"explain", "describe", true},
	{"briefly", "concisely", true},
	{"for example", "for instance", true},
	{"start with", "begin with", true},
	{"try to", "aim to", true},
	{"focus on", "concentrate on", true},
	{"important", "essential", true},
	{"polite", "courteous", true},
	{"friendly", "approachable", true},
	{"if possible", "where possible", true},
	{"avoid", "steer clear of", true},
	{"question", "query", true},
	{"questions", "queries", true},
	{"don't", "do not", true},
	{"can't", "cannot", true},
	{"won't", "will not", true},
	{"you're", "you are", true},
	{"it's", "it is", true},
	{"because", "since", false},
	{"a lot of", "many", false},
	{"however,", "that said,", false},
	{"in addition,", "also,", false},
	{"as soon as possible", "promptly", false},
}

// wordRE returns a case-insensitive pattern for phrase that starts at a
// word boundary and, when phrase ends in a letter or digit, ends at one.
func wordRE(phrase string) *regexp.Regexp {
	end := `\b`
	if r, _ := utf8.DecodeLastRuneInString(phrase); !unicode.IsLetter(r) && !unicode.IsDigit(r) {
		end = ""
	}
	return regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(phrase) + end)
}

// synonymREs holds the compiled patterns of synonyms: [i][0] for from,
// [i][1] for to.
var synonymREs = func() [][2]*regexp.Regexp {
	out := make([][2]*regexp.Regexp, len(synonyms))
	for i, s := range synonyms {
		out[i] = [2]*regexp.Regexp{wordRE(s.from), wordRE(s.to)}
	}
	return out
}()

// applyWording swaps one to three phrases for synonyms throughout the prompt.
func applyWording(doc *document, rng *rand.Rand) bool {
	refs := doc.refs()
	var texts []string
	for _, r := range refs {
		if s := doc.get(r); !inAnyBank(s) {
			texts = append(texts, s)
		}
	}
	all := strings.Join(texts, "\n")
	type swap struct {
		re *regexp.Regexp
		to string
	}
	var swaps []swap
	for i, s := range synonyms {
		switch {
		case synonymREs[i][0].MatchString(all):
			swaps = append(swaps, swap{synonymREs[i][0], s.to})
		case s.twoWay && synonymREs[i][1].MatchString(all):
			swaps = append(swaps, swap{synonymREs[i][1], s.from})
		}
	}
	if len(swaps) == 0 {
		return false
	}
	rng.Shuffle(len(swaps), func(i, j int) { swaps[i], swaps[j] = swaps[j], swaps[i] })
	swaps = swaps[:1+rng.IntN(min(3, len(swaps)))]
	for _, r := range refs {
		s := doc.get(r)
		if inAnyBank(s) {
			continue
		}
		for _, sw := range swaps {
			s = sw.re.ReplaceAllStringFunc(s, func(m string) string { return matchCase(m, sw.to) })
		}
		doc.set(r, s)
	}
	return true
}

// matchCase gives repl the capitalisation of the first letter of orig.
func matchCase(orig, repl string) string {
	r, _ := utf8.DecodeRuneInString(orig)
	if unicode.IsUpper(r) {
		return upperFirst(repl)
	}
	return repl
}

// applyOrdering reorders the sentences (or bullet items) of one block that
// stand on their own: complete sentences that neither state the role nor
// refer back to the sentence before. Data lines, such as
// "Question: {{question}}", and numbered steps keep their place.
func applyOrdering(doc *document, rng *rand.Rand) bool {
	type slots struct {
		refs []sentenceRef
	}
	var eligible []slots
	for bi, b := range doc.blocks {
		var s slots
		switch {
		case b.kind == textBlock:
			for i := range b.sentences {
				r := sentenceRef{block: bi, index: i}
				if t := doc.get(r); terminal(t) && !anaphoraRE.MatchString(t) && !isPersona(doc, r) {
					s.refs = append(s.refs, r)
				}
			}
		case b.kind == listBlock && !b.numbered:
			for i := range b.items {
				if !anaphoraRE.MatchString(b.items[i]) {
					s.refs = append(s.refs, sentenceRef{block: bi, index: i, item: true})
				}
			}
		}
		if len(s.refs) >= 2 {
			eligible = append(eligible, s)
		}
	}
	if len(eligible) == 0 {
		return false
	}
	refs := eligible[rng.IntN(len(eligible))].refs
	texts := make([]string, len(refs))
	for i, r := range refs {
		texts[i] = doc.get(r)
	}
	perm := rng.Perm(len(refs))
	identity := true
	for i, p := range perm {
		if i != p {
			identity = false
		}
	}
	if identity {
		perm[0], perm[1] = perm[1], perm[0]
	}
	for i, p := range perm {
		doc.set(refs[i], texts[p])
	}
	return true
}

// minListSentences is the fewest sentences that are turned into a list.
const minListSentences = 3

// applyStructure turns a paragraph of three or more complete sentences into a
// bulleted or numbered list under a lead-in, or a list back into prose.
func applyStructure(doc *document, rng *rand.Rand) bool {
	var toList, toProse []int
	for bi, b := range doc.blocks {
		switch b.kind {
		case textBlock:
			if b.lines {
				continue
			}
			body := b.sentences
			if len(body) > 0 && isPersona(doc, sentenceRef{block: bi}) {
				body = body[1:]
			}
			ok := len(body) >= minListSentences
			for _, s := range body {
				ok = ok && terminal(s)
			}
			if ok {
				toList = append(toList, bi)
			}
		case listBlock:
			ok := true
			for _, it := range b.items {
				ok = ok && len(strings.Fields(it)) >= 2 && !strings.HasSuffix(it, ":")
			}
			if ok {
				toProse = append(toProse, bi)
			}
		}
	}
	choices := len(toList) + len(toProse)
	if choices == 0 {
		return false
	}
	if c := rng.IntN(choices); c < len(toList) {
		bi := toList[c]
		b := doc.blocks[bi]
		var head []string
		body := b.sentences
		if isPersona(doc, sentenceRef{block: bi}) {
			head, body = body[:1], body[1:]
		}
		list := block{kind: listBlock, intro: listIntroBank[rng.IntN(len(listIntroBank))], items: body, numbered: rng.IntN(2) == 0}
		if head == nil {
			doc.blocks[bi] = list
		} else {
			doc.blocks[bi] = block{kind: textBlock, sentences: head}
			doc.blocks = append(doc.blocks[:bi+1], append([]block{list}, doc.blocks[bi+1:]...)...)
		}
	} else {
		bi := toProse[c-len(toList)]
		b := doc.blocks[bi]
		var sentences []string
		if b.intro != "" && !inBank(listIntroBank, b.intro) {
			sentences = append(sentences, b.intro)
		}
		for _, it := range b.items {
			it = upperFirst(it)
			if !terminal(it) {
				it += "."
			}
			sentences = append(sentences, it)
		}
		doc.blocks[bi] = block{kind: textBlock, sentences: sentences}
	}
	return true
}
