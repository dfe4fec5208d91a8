package mutation

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
)

// Generate asks m for children of req.Parent until req.Count candidates pass
// the guardrails g, or maxAttempts calls of m.Mutate have been made (at least
// one). Each attempt asks for the children still missing; attempts after the
// first use a seed derived from req.Seed and the attempt number, so that
// deterministic mutators propose something new. Candidates are trimmed of
// surrounding whitespace, then checked against the parent, the history (every
// prompt the portfolio ever had) and the candidates admitted before them, so
// that no two admitted children are duplicates or too similar.
//
// Generate ends without an error when m's own budget is spent ([ErrBudgetSpent]).
// It stops at the first other error of m.Mutate: a mutator has already spent
// its own retry budget, and Generate does not multiply it. It returns the
// admitted candidates, every rejection with its reason, and that error (or
// the context's error when ctx ends between attempts), so that the caller can
// keep what was admitted and still report the failing mutator.
func Generate(ctx context.Context, m Mutator, g Guardrails, req Request, history []string, maxAttempts int) (admitted []Candidate, rejected []Rejection, err error) {
	if req.Count <= 0 {
		return nil, nil, nil
	}
	if verr := g.Validate(); verr != nil {
		return nil, nil, errors.Join(errors.New("invalid guardrails"), verr)
	}
	chk := g.newChecker(req.Parent, history)
	for attempt := 0; attempt < max(maxAttempts, 1) && len(admitted) < req.Count; attempt++ {
		if cerr := ctx.Err(); cerr != nil {
			return admitted, rejected, cerr
		}
		sub := req
		sub.Count = req.Count - len(admitted)
		sub.MaxLength = g.MaxLength
		sub.Seed = attemptSeed(req.Seed, attempt)
		cands, merr := m.Mutate(ctx, sub)
		for _, c := range cands {
			c.Text = strings.TrimSpace(c.Text)
			if len(admitted) == req.Count {
				break
			}
			if r := chk.check(c); r != nil {
				rejected = append(rejected, *r)
				continue
			}
			admitted = append(admitted, c)
			chk.admit(c.Text)
		}
		if errors.Is(merr, ErrBudgetSpent) {
			return admitted, rejected, nil
		}
		if merr != nil {
			return admitted, rejected, merr
		}
	}
	return admitted, rejected, nil
}

// attemptSeed returns the seed of a Generate attempt: the request's own seed
// for the first attempt, so that a single attempt is reproducible from
// outside, and a mixed one for every later attempt.
func attemptSeed(seed uint64, attempt int) uint64 {
	if attempt == 0 {
		return seed
	}
	return rand.New(rand.NewPCG(seed^seedStreamGenerate, uint64(attempt))).Uint64()
}
