package mutation

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The offline mutator edits a prompt as a document of blocks. Placeholders
// are masked first, so that no operator can alter them, and unmasked last.

// blockKind says how a block is edited and rendered.
type blockKind int

const (
	// textBlock holds sentences: a prose paragraph (joined by spaces) or a
	// paragraph of short lines (joined by newlines).
	textBlock blockKind = iota
	// listBlock holds bulleted or numbered items with an optional lead-in.
	listBlock
	// fixedBlock is never edited: fenced code and headings.
	fixedBlock
)

// block is one paragraph of a prompt.
type block struct {
	kind      blockKind
	sentences []string // textBlock
	lines     bool     // textBlock: one sentence per line
	intro     string   // listBlock: lead-in line, may be empty
	items     []string // listBlock
	numbered  bool     // listBlock
	raw       string   // fixedBlock
}

// document is a prompt split into blocks.
type document struct {
	blocks []block
}

// Sentinels that stand in for placeholders while operators run. They are
// private-use characters, which no operator matches.
const (
	maskOpen  = '\uE000'
	maskClose = '\uE001'
)

var maskRE = regexp.MustCompile("\uE000([0-9]+)\uE001")

// maskPlaceholders replaces each placeholder by a sentinel and returns the
// originals in order.
func maskPlaceholders(text string) (string, []string) {
	var originals []string
	masked := placeholderRE.ReplaceAllStringFunc(text, func(p string) string {
		originals = append(originals, p)
		return string(maskOpen) + strconv.Itoa(len(originals)-1) + string(maskClose)
	})
	return masked, originals
}

// unmaskPlaceholders restores the placeholders replaced by maskPlaceholders.
func unmaskPlaceholders(text string, originals []string) string {
	return maskRE.ReplaceAllStringFunc(text, func(s string) string {
		i, err := strconv.Atoi(s[len(string(maskOpen)) : len(s)-len(string(maskClose))])
		if err != nil || i >= len(originals) {
			return s
		}
		return originals[i]
	})
}

var (
	listItemRE = regexp.MustCompile(`^\s*(?:([-*•])|([0-9]+[.)]))\s+(.*\S)\s*$`)
	// sentenceEndRE finds the space after a sentence: terminal punctuation,
	// optional closing quote or bracket, whitespace, then an upper-case
	// letter, a digit, a quote or a masked placeholder.
	sentenceEndRE = regexp.MustCompile(`[.!?]["')\]]?\s+["'(\[\x{E000}]?[A-Z0-9\x{E000}]`)
)

// minWrappedWords is the fewest words every line of a paragraph must have
// for the paragraph to count as hard-wrapped prose.
const minWrappedWords = 6

// parseDocument splits text into blocks at blank lines, keeping fenced code
// whole.
func parseDocument(text string) *document {
	d := &document{}
	var para []string
	flush := func() {
		if len(para) > 0 {
			d.blocks = append(d.blocks, parseParagraph(para))
			para = nil
		}
	}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~"):
			flush()
			fence := trimmed[:3]
			j := i + 1
			for j < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[j]), fence) {
				j++
			}
			end := min(j, len(lines)-1)
			d.blocks = append(d.blocks, block{kind: fixedBlock, raw: strings.Join(lines[i:end+1], "\n")})
			i = end
		case trimmed == "":
			flush()
		default:
			para = append(para, line)
		}
	}
	flush()
	return d
}

// parseParagraph classifies one paragraph.
func parseParagraph(lines []string) block {
	first := strings.TrimSpace(lines[0])
	if len(lines) == 1 && strings.HasPrefix(first, "#") {
		return block{kind: fixedBlock, raw: first}
	}
	// A list: item lines, optionally after one lead-in line.
	start := 0
	if !listItemRE.MatchString(lines[0]) {
		start = 1
	}
	if len(lines)-start >= 2 {
		b := block{kind: listBlock}
		for i, l := range lines[start:] {
			m := listItemRE.FindStringSubmatch(l)
			if m == nil {
				b.kind = textBlock
				break
			}
			if i == 0 {
				b.numbered = m[2] != ""
			}
			b.items = append(b.items, m[3])
		}
		if b.kind == listBlock {
			if start == 1 {
				b.intro = first
			}
			return b
		}
	}
	wrapped := true
	for _, l := range lines {
		if len(strings.Fields(l)) < minWrappedWords {
			wrapped = false
		}
	}
	if len(lines) == 1 || wrapped {
		return block{kind: textBlock, sentences: splitSentences(strings.Join(strings.Fields(strings.Join(lines, " ")), " "))}
	}
	b := block{kind: textBlock, lines: true}
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if n := len(b.sentences); n > 0 && continues(b.sentences[n-1], l) {
			b.sentences[n-1] += " " + l
			continue
		}
		b.sentences = append(b.sentences, l)
	}
	return b
}

// continues reports whether line carries on the sentence that prev leaves unfinished: prev ends
// without terminal punctuation or a colon and line starts with a lower-case letter.
func continues(prev, line string) bool {
	if terminal(prev) || strings.HasSuffix(prev, ":") {
		return false
	}
	r, _ := utf8.DecodeRuneInString(line)
	return unicode.IsLower(r)
}

// splitSentences splits prose after terminal punctuation that is followed by
// the start of a new sentence.
func splitSentences(p string) []string {
	var out []string
	for {
		loc := sentenceEndRE.FindStringIndex(p)
		if loc == nil {
			break
		}
		// The boundary is the first whitespace inside the match.
		cut := loc[0] + strings.IndexFunc(p[loc[0]:loc[1]], unicode.IsSpace)
		out = append(out, strings.TrimSpace(p[:cut]))
		p = strings.TrimSpace(p[cut:])
	}
	if p != "" {
		out = append(out, p)
	}
	return out
}

// render writes the document back as text.
func (d *document) render() string {
	parts := make([]string, 0, len(d.blocks))
	for _, b := range d.blocks {
		switch b.kind {
		case textBlock:
			if len(b.sentences) == 0 {
				continue
			}
			sep := " "
			if b.lines {
				sep = "\n"
			}
			parts = append(parts, strings.Join(b.sentences, sep))
		case listBlock:
			var sb strings.Builder
			if b.intro != "" {
				sb.WriteString(b.intro + "\n")
			}
			for i, it := range b.items {
				if i > 0 {
					sb.WriteString("\n")
				}
				if b.numbered {
					sb.WriteString(strconv.Itoa(i+1) + ". " + it)
				} else {
					sb.WriteString("- " + it)
				}
			}
			parts = append(parts, sb.String())
		case fixedBlock:
			parts = append(parts, b.raw)
		}
	}
	return strings.Join(parts, "\n\n")
}

// clone returns a deep copy, so that one parse serves many candidates.
func (d *document) clone() *document {
	c := &document{blocks: make([]block, len(d.blocks))}
	for i, b := range d.blocks {
		b.sentences = append([]string(nil), b.sentences...)
		b.items = append([]string(nil), b.items...)
		c.blocks[i] = b
	}
	return c
}

// terminal reports whether s ends a sentence: with ".", "!" or "?",
// optionally followed by a closing quote or bracket.
func terminal(s string) bool {
	s = strings.TrimRight(s, `"')]`)
	return strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?")
}

// upperFirst capitalises the first letter of s.
func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || !unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// sentenceRef addresses one sentence or list item of a document.
type sentenceRef struct {
	block, index int
	item         bool
}

// get returns the addressed text.
func (d *document) get(r sentenceRef) string {
	if r.item {
		return d.blocks[r.block].items[r.index]
	}
	return d.blocks[r.block].sentences[r.index]
}

// set replaces the addressed text.
func (d *document) set(r sentenceRef, s string) {
	if r.item {
		d.blocks[r.block].items[r.index] = s
		return
	}
	d.blocks[r.block].sentences[r.index] = s
}

// refs lists every sentence and list item that operators may edit.
func (d *document) refs() []sentenceRef {
	var out []sentenceRef
	for bi, b := range d.blocks {
		switch b.kind {
		case textBlock:
			for i := range b.sentences {
				out = append(out, sentenceRef{block: bi, index: i})
			}
		case listBlock:
			for i := range b.items {
				out = append(out, sentenceRef{block: bi, index: i, item: true})
			}
		}
	}
	return out
}

// removeSentences deletes every sentence or item for which drop is true and
// returns the removed texts.
func (d *document) removeSentences(drop func(string) bool) []string {
	var removed []string
	keep := func(xs []string) []string {
		out := xs[:0]
		for _, x := range xs {
			if drop(x) {
				removed = append(removed, x)
			} else {
				out = append(out, x)
			}
		}
		return out
	}
	for i := range d.blocks {
		b := &d.blocks[i]
		switch b.kind {
		case textBlock:
			b.sentences = keep(b.sentences)
		case listBlock:
			b.items = keep(b.items)
			if len(b.items) == 0 {
				b.kind, b.sentences = textBlock, nil
			}
		}
	}
	return removed
}

// insertDirective adds a sentence where a prompt's standing instructions end:
// in the first text block that has a complete sentence, before the first
// sentence that introduces data (one that does not end a sentence, such as
// "Question: {{question}}"). Without such a block the sentence becomes a
// paragraph of its own at the top.
func (d *document) insertDirective(s string) {
	for i := range d.blocks {
		b := &d.blocks[i]
		if b.kind != textBlock {
			continue
		}
		pos, complete := len(b.sentences), false
		for j, t := range b.sentences {
			if terminal(t) {
				complete = true
				continue
			}
			if complete {
				pos = j
				break
			}
		}
		if !complete {
			continue
		}
		if pos == len(b.sentences) {
			// Insert after the last complete sentence, before trailing data lines.
			for pos > 0 && !terminal(b.sentences[pos-1]) {
				pos--
			}
		}
		b.sentences = insertAt(b.sentences, pos, s)
		return
	}
	d.blocks = append([]block{{kind: textBlock, sentences: []string{s}}}, d.blocks...)
}

// insertAt inserts s into xs at position i.
func insertAt(xs []string, i int, s string) []string {
	xs = append(xs, "")
	copy(xs[i+1:], xs[i:])
	xs[i] = s
	return xs
}
