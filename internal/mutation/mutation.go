// Package mutation produces child prompts from a parent prompt and decides
// which of them may join a portfolio.
//
// It has three parts that the controller combines through [Generate]:
//
//   - a [Mutator] proposes candidates: [OpenAI] asks any OpenAI-compatible
//     chat-completions endpoint (OpenAI, Azure OpenAI, vLLM, Ollama, LiteLLM),
//     and [Offline] rewrites the prompt with deterministic operators and no
//     network;
//   - [Guardrails] admit or reject one candidate against the parent and every
//     prompt the portfolio ever had, with a stable [Reason];
//   - [Generate] asks a mutator repeatedly, within bounds, until enough
//     candidates are admitted, and reports every rejection and the mutator
//     error separately so that selection keeps working while the mutator
//     fails.
//
// The package imports nothing from Kubernetes; the controller translates its
// results into PromptArms and conditions.
package mutation

import (
	"context"
	"errors"
	"unicode/utf8"
)

// Length budget: a child may be longer than the longest seed by half of it,
// and by at least LengthSlack characters, so that short seeds still have
// room for an added sentence.
const (
	LengthGrowth = 0.5
	LengthSlack  = 200
)

// LengthBudget is the longest child a portfolio admits given its seed
// prompts, in characters: the longest seed plus max(LengthGrowth × its
// length, LengthSlack), so that children do not grow without bound
// generation after generation; never more than limit when limit > 0, and
// limit itself when there are no seeds.
func LengthBudget(seeds []string, limit int) int {
	longest := 0
	for _, s := range seeds {
		longest = max(longest, utf8.RuneCountInString(s))
	}
	budget := 0
	if longest > 0 {
		budget = longest + max(int(LengthGrowth*float64(longest)), LengthSlack)
	}
	if limit > 0 && (budget == 0 || budget > limit) {
		return limit
	}
	return budget
}

// Request asks a [Mutator] for children of one parent prompt.
type Request struct {
	// Parent is the text of the parent prompt, normally the portfolio's best
	// arm.
	Parent string
	// Count is the number of children wanted. A mutator returns at most Count
	// candidates; zero or negative asks for none.
	Count int
	// Instructions are the portfolio's extra instructions for the mutator, for
	// example "address the reader informally". Empty means none.
	Instructions string
	// MaxLength is the longest candidate wanted, in characters (Unicode code
	// points); 0 means no limit. [Generate] sets it to the guardrails'
	// MaxLength, so that a mutator that can aim (Offline) does not propose
	// what would be rejected as too long.
	MaxLength int
	// Seed makes deterministic mutators reproducible. The controller derives it
	// from the portfolio and its evolution generation, so that a repeated cycle
	// proposes the same children and the next generation proposes new ones.
	Seed uint64
}

// Candidate is one proposed child prompt.
type Candidate struct {
	// Text is the full text of the proposed prompt.
	Text string
	// Operator names what produced the text: "llm" for a language model, or
	// the offline operators applied, joined by "+" in order of application
	// (for example "tone+ordering").
	Operator string
}

// ErrBudgetSpent is returned by a mutator with a budget of its own (OpenAI's MaxCalls) once the
// budget is spent. Generate ends on it without an error: spending the budget is not a failure.
var ErrBudgetSpent = errors.New("the mutator's budget of calls is spent")

// MaxAttempts bounds the Mutate calls of one Generate in a cycle: the re-asks after guardrail
// rejections of a mutator that costs nothing (Offline). A mutator with a budget (OpenAI) ends
// them earlier with ErrBudgetSpent; MaxAttempts is not a budget of provider calls.
const MaxAttempts = 10

// Mutator proposes children of a parent prompt. Implementations are safe for
// concurrent use.
type Mutator interface {
	// Name identifies the kind of mutator: "offline" or "openai".
	Name() string
	// Model is the language model in use, or "" when there is none.
	Model() string
	// Mutate returns at most req.Count candidates. It may return candidates
	// together with an error: the candidates are usable, and the error says
	// why there are fewer than asked for. Candidates are not yet checked by
	// any guardrail.
	Mutate(ctx context.Context, req Request) ([]Candidate, error)
}
