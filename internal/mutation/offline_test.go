package mutation

import (
	"context"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// samplePrompts cover the shapes the offline mutator must handle.
var samplePrompts = map[string]string{
	"support": "You are a support agent for {{company}}. Please answer the customer's question politely and make sure you never promise refunds. " +
		"Explain any policy in plain words. Keep it short.\n\nQuestion: {{ question }}",
	"list and code": "Summarise the following article for a newsletter.\n\n- Use at most three sentences\n- Mention the author {{author}}\n- Do not include links\n\n" +
		"```\n{{article}}\n\nIt's   spaced   *exactly* like this. Please keep it.\n```",
	"one sentence":    "Write a product description for {{product}}.",
	"no placeholders": "Translate the user's message into French. Keep names unchanged. Do not add explanations.",
	"lines":           "Act as a travel planner.\nSuggest three day trips.\nDestination: {{city}}\nBudget: {{budget}}",
	"numbered steps":  "Follow these steps:\n1. Read the ticket {{ticket.id}}\n2. Find the product it concerns\n3. Draft a reply for {{agent_name}}",
}

// rawPlaceholders returns every placeholder as written, spacing included.
func rawPlaceholders(text string) []string {
	out := placeholderRE.FindAllString(text, -1)
	slices.Sort(out)
	return out
}

func TestOfflineCandidates(t *testing.T) {
	known := map[string]bool{}
	for _, op := range operators {
		known[op.name] = true
	}
	for name, parent := range samplePrompts {
		t.Run(name, func(t *testing.T) {
			for seed := range uint64(20) {
				cands, err := Offline{}.Mutate(context.Background(), Request{Parent: parent, Count: 3, Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				if len(cands) != 3 {
					t.Fatalf("seed %d: %d candidates, want 3", seed, len(cands))
				}
				seen := map[string]bool{normalizedText(parent): true}
				for _, c := range cands {
					if seen[normalizedText(c.Text)] {
						t.Errorf("seed %d: candidate repeats the parent or a sibling:\n%s", seed, c.Text)
					}
					seen[normalizedText(c.Text)] = true
					if got, want := rawPlaceholders(c.Text), rawPlaceholders(parent); !slices.Equal(got, want) {
						t.Errorf("seed %d: placeholders %q, want exactly %q in\n%s", seed, got, want, c.Text)
					}
					if i := strings.Index(parent, "```"); i >= 0 && !strings.Contains(c.Text, parent[i:]) {
						t.Errorf("seed %d: fenced code changed in\n%s", seed, c.Text)
					}
					if strings.Contains(c.Text, "\uE000") || strings.Contains(c.Text, "  ") && !strings.Contains(parent, "  ") {
						t.Errorf("seed %d: masking or spacing leaked into\n%q", seed, c.Text)
					}
					ops := strings.Split(c.Operator, "+")
					if len(ops) < 1 || len(ops) > 3 {
						t.Errorf("seed %d: operator %q should name one to three operators", seed, c.Operator)
					}
					for _, op := range ops {
						if !known[op] {
							t.Errorf("seed %d: unknown operator %q", seed, op)
						}
					}
				}
			}
		})
	}
}

func TestOfflineIsDeterministic(t *testing.T) {
	req := Request{Parent: samplePrompts["support"], Count: 4, Seed: 42}
	a, _ := Offline{}.Mutate(context.Background(), req)
	b, _ := Offline{}.Mutate(context.Background(), req)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same request, different candidates:\n%v\n%v", a, b)
	}
	req.Seed = 43
	c, _ := Offline{}.Mutate(context.Background(), req)
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave the same candidates")
	}
}

func TestOfflineEmptyParent(t *testing.T) {
	if _, err := (Offline{}).Mutate(context.Background(), Request{Parent: " \n", Count: 1}); err == nil {
		t.Fatal("an empty parent was accepted")
	}
	if c, err := (Offline{}).Mutate(context.Background(), Request{Parent: "x", Count: 0}); err != nil || len(c) != 0 {
		t.Fatalf("Count 0 = %v, %v", c, err)
	}
}

// applyOne runs one operator on a masked prompt and returns the result.
func applyOne(t *testing.T, name, text string, seed uint64) (string, bool) {
	t.Helper()
	i := slices.IndexFunc(operators, func(o operator) bool { return o.name == name })
	if i < 0 {
		t.Fatalf("no operator %q", name)
	}
	masked, originals := maskPlaceholders(text)
	doc := parseDocument(masked)
	changed := operators[i].apply(doc, rand.New(rand.NewPCG(seed, 1)))
	return unmaskPlaceholders(doc.render(), originals), changed
}

func TestOfflineOperators(t *testing.T) {
	const prose = "Answer the question about {{product}}. Always cite the manual. Use simple words. Do not guess prices.\n\nQuestion: {{question}}"
	countIn := func(bank []string, text string) int {
		n := 0
		for _, s := range bank {
			n += strings.Count(strings.ToLower(text), strings.ToLower(s))
		}
		return n
	}
	tests := []struct {
		op     string
		parent string
		check  func(t *testing.T, out string)
	}{
		{"tone", prose, func(t *testing.T, out string) {
			if countIn(toneBank, out) != 1 {
				t.Errorf("want exactly one tone sentence in\n%s", out)
			}
			if !strings.HasSuffix(out, "Question: {{question}}") {
				t.Errorf("the directive must come before the data line:\n%s", out)
			}
		}},
		{"persona", prose, func(t *testing.T, out string) {
			if !slices.ContainsFunc(personaBank, func(p string) bool { return strings.HasPrefix(out, p) }) {
				t.Errorf("want a role first in\n%s", out)
			}
		}},
		{"persona", "You are a chef. Suggest a recipe with {{ingredient}}.", func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "You are a chef. ") || countIn(traitBank, out) != 1 {
				t.Errorf("want the prompt's own role kept and one trait added:\n%s", out)
			}
		}},
		{"audience", prose, func(t *testing.T, out string) {
			if countIn(audienceBank, out) != 1 {
				t.Errorf("want one audience sentence in\n%s", out)
			}
		}},
		{"format", prose, func(t *testing.T, out string) {
			if countIn(formatBank, out) != 1 {
				t.Errorf("want one format sentence in\n%s", out)
			}
		}},
		{"verification", prose, func(t *testing.T, out string) {
			if countIn(verificationBank, out) != 1 {
				t.Errorf("want one verification sentence in\n%s", out)
			}
		}},
		{"brevity", "Please explain the plan in order to help {{user}}. It is very important that you stay on topic.", func(t *testing.T, out string) {
			for _, filler := range []string{"Please", "in order to", "very", "It is"} {
				if strings.Contains(out, filler) {
					t.Errorf("filler %q left in\n%s", filler, out)
				}
			}
			if !strings.HasPrefix(out, "Explain the plan to help {{user}}. Stay on topic.") {
				t.Errorf("unexpected shortening:\n%s", out)
			}
		}},
		{"emphasis", prose, func(t *testing.T, out string) {
			marked := strings.Contains(out, "ALWAYS") || strings.Contains(out, "DO NOT")
			for _, p := range emphasisPrefixes {
				marked = marked || strings.Contains(out, p)
			}
			if !marked {
				t.Errorf("no emphasis in\n%s", out)
			}
		}},
		{"wording", "Make sure you explain the answer briefly. Don't guess, for example about {{price}}.", func(t *testing.T, out string) {
			if out == "Make sure you explain the answer briefly. Don't guess, for example about {{price}}." {
				t.Errorf("nothing swapped")
			}
			if !strings.Contains(out, "{{price}}") || !strings.HasPrefix(out, strings.ToUpper(out[:1])) {
				t.Errorf("bad swap:\n%s", out)
			}
		}},
		{"ordering", prose, func(t *testing.T, out string) {
			want := strings.Fields(prose)
			got := strings.Fields(out)
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) || !strings.HasSuffix(out, "Question: {{question}}") {
				t.Errorf("ordering must only move sentences and keep data lines:\n%s", out)
			}
		}},
		{"structure", prose, func(t *testing.T, out string) {
			if !strings.Contains(out, "\n- Always cite the manual.") && !strings.Contains(out, "\n2. Always cite the manual.") {
				t.Errorf("want a list in\n%s", out)
			}
		}},
		{"structure", "Rules:\n- never share {{secret_name}}\n- reply in English", func(t *testing.T, out string) {
			if out != "Rules: Never share {{secret_name}}. Reply in English." {
				t.Errorf("want prose, got\n%s", out)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			for seed := range uint64(5) {
				out, changed := applyOne(t, tt.op, tt.parent, seed)
				if !changed || out == tt.parent {
					t.Fatalf("seed %d: operator made no change", seed)
				}
				if got, want := rawPlaceholders(out), rawPlaceholders(tt.parent); !slices.Equal(got, want) {
					t.Fatalf("seed %d: placeholders %q, want %q", seed, got, want)
				}
				tt.check(t, out)
			}
		})
	}
}

// TestOfflineOperatorsReplaceTheirOwnOutput checks that applying the same
// operator again swaps its sentence instead of adding one.
func TestOfflineOperatorsReplaceTheirOwnOutput(t *testing.T) {
	text := samplePrompts["support"]
	for seed := range uint64(30) {
		for _, op := range []string{"tone", "audience", "format", "verification", "persona", "emphasis"} {
			text, _ = applyOne(t, op, text, seed)
		}
	}
	for _, bank := range allBanks {
		n := 0
		for _, s := range bank {
			n += strings.Count(text, s)
		}
		if n > 1 {
			t.Errorf("bank starting %q appears %d times in\n%s", bank[0], n, text)
		}
	}
	bound := len(samplePrompts["support"]) + len("Important: ")
	for _, bank := range [][]string{toneBank, audienceBank, formatBank, verificationBank, traitBank} {
		longest := 0
		for _, s := range bank {
			longest = max(longest, len(s)+1)
		}
		bound += longest
	}
	if len(text) > bound {
		t.Errorf("repeated operators grew the prompt to %d bytes:\n%s", len(text), text)
	}
}

// TestOfflineManyGenerations runs evolution the way the controller does:
// every generation mutates the newest child, and children must be novel
// against every prompt the portfolio ever had.
func TestOfflineManyGenerations(t *testing.T) {
	const generations, perGeneration = 40, 3
	g := Guardrails{MaxLength: 1500, PreservePlaceholders: true, MinNovelty: 0.15}
	for name, seedPrompt := range samplePrompts {
		t.Run(name, func(t *testing.T) {
			history := []string{seedPrompt}
			parent := seedPrompt
			for gen := range generations {
				req := Request{Parent: parent, Count: perGeneration, Seed: uint64(gen)*7919 + uint64(len(name))}
				admitted, rejected, err := Generate(context.Background(), Offline{}, g, req, history, 6)
				if err != nil {
					t.Fatal(err)
				}
				if len(admitted) != perGeneration {
					t.Fatalf("generation %d: %d admitted, %d rejected (%v)", gen, len(admitted), len(rejected), rejected)
				}
				for _, c := range admitted {
					history = append(history, c.Text)
				}
				parent = admitted[gen%perGeneration].Text
			}
			if n := len(history); n != 1+generations*perGeneration {
				t.Fatalf("history has %d prompts", n)
			}
		})
	}
}

func FuzzOfflinePreservesPlaceholders(f *testing.F) {
	for _, p := range samplePrompts {
		f.Add(p, uint64(1))
	}
	f.Add("{{a}}. {{ b }}! ? \n\n- x\n- {{c}}", uint64(9))
	f.Fuzz(func(t *testing.T, parent string, seed uint64) {
		if strings.ContainsAny(parent, "\uE000\uE001") {
			t.Skip("private-use sentinels are reserved")
		}
		cands, err := Offline{}.Mutate(context.Background(), Request{Parent: parent, Count: 2, Seed: seed})
		if err != nil {
			return
		}
		for _, c := range cands {
			if !slices.Equal(Placeholders(c.Text), Placeholders(parent)) {
				t.Fatalf("placeholders changed:\n%q\n%q", parent, c.Text)
			}
		}
	})
}

// wrapped has a sentence wrapped over two lines, above a data line: a paragraph of short lines.
const wrapped = "You are a warm, patient support agent. Acknowledge how {{customer_name}} feels, then answer\n" +
	"the question step by step.\nQuestion: {{question}}"

// TestOfflineKeepsSentencesWhole checks that no operator splits a sentence wrapped over two lines:
// no line of a candidate starts with a lower-case word, and "then answer" is never left at the end
// of a line.
func TestOfflineKeepsSentencesWhole(t *testing.T) {
	for seed := range uint64(100) {
		cands, err := Offline{}.Mutate(context.Background(), Request{Parent: wrapped, Count: 3, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cands {
			for _, line := range strings.Split(c.Text, "\n") {
				line = strings.TrimSpace(strings.TrimLeft(line, "-•* "))
				if line != "" && strings.ToLower(line[:1]) == line[:1] && line[:1] != "{" && !strings.HasPrefix(line, "1") {
					t.Errorf("seed %d (%s): a line starts mid-sentence: %q in\n%s", seed, c.Operator, line, c.Text)
				}
				if strings.HasSuffix(line, "then answer") {
					t.Errorf("seed %d (%s): the wrapped sentence was cut:\n%s", seed, c.Operator, c.Text)
				}
			}
		}
	}
}

func TestLengthBudget(t *testing.T) {
	tests := []struct {
		seeds []string
		limit int
		want  int
	}{
		{[]string{"abcd", "ab"}, 0, 204},
		{[]string{"abcd", "ab"}, 50, 50},
		{[]string{"äöüß"}, 1000, 204},
		{[]string{strings.Repeat("x", 1000)}, 4096, 1500},
		{nil, 50, 50},
		{nil, 0, 0},
	}
	for _, tt := range tests {
		if got := LengthBudget(tt.seeds, tt.limit); got != tt.want {
			t.Errorf("LengthBudget(%q, %d) = %d, want %d", tt.seeds, tt.limit, got, tt.want)
		}
	}
}

// TestOfflineStaysWithinTheLengthBudget breeds 40 generations, always from the longest child, with
// the budget of the seed as the guardrails' MaxLength: no child exceeds it, and the mutator keeps
// finding children.
var stacked = regexp.MustCompile(`(Important|Key point|Crucial|Note well|Essential): (Important|Key point|Crucial|Note well|Essential):`)

func TestOfflineStaysWithinTheLengthBudget(t *testing.T) {
	for name, seedPrompt := range samplePrompts {
		t.Run(name, func(t *testing.T) {
			g := Guardrails{MaxLength: LengthBudget([]string{seedPrompt}, 4096), PreservePlaceholders: true, MinNovelty: 0.05}
			history := []string{seedPrompt}
			parent := seedPrompt
			for gen := range 40 {
				admitted, _, err := Generate(context.Background(), Offline{}, g, Request{Parent: parent, Count: 2, Seed: uint64(gen)}, history, 6)
				if err != nil {
					t.Fatal(err)
				}
				if len(admitted) == 0 {
					t.Fatalf("generation %d: no child within %d characters of %q", gen, g.MaxLength, parent)
				}
				for _, c := range admitted {
					if n := len([]rune(c.Text)); n > g.MaxLength {
						t.Errorf("generation %d: %d characters, budget %d", gen, n, g.MaxLength)
					}
					if stacked.MatchString(c.Text) {
						t.Errorf("generation %d: emphasis stacked on emphasis in\n%s", gen, c.Text)
					}
					history = append(history, c.Text)
					if len(c.Text) > len(parent) || gen%5 == 0 {
						parent = c.Text
					}
				}
			}
		})
	}
}
