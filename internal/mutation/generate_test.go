package mutation

import (
	"context"
	"errors"
	"testing"
)

// scripted is a Mutator that returns one scripted batch per call and records
// the requests it received.
type scripted struct {
	batches [][]string
	errs    []error
	reqs    []Request
}

func (s *scripted) Name() string  { return "scripted" }
func (s *scripted) Model() string { return "" }
func (s *scripted) Mutate(_ context.Context, req Request) ([]Candidate, error) {
	i := len(s.reqs)
	s.reqs = append(s.reqs, req)
	var out []Candidate
	if i < len(s.batches) {
		for _, t := range s.batches[i] {
			out = append(out, Candidate{Text: t, Operator: "scripted"})
		}
	}
	var err error
	if i < len(s.errs) {
		err = s.errs[i]
	}
	return out, err
}

func TestGenerate(t *testing.T) {
	const parent = "Answer the question about {{topic}} politely."
	failing := &Error{Kind: KindRateLimited, StatusCode: 429, Attempts: 4}
	tests := []struct {
		name         string
		m            *scripted
		count        int
		attempts     int
		wantAdmitted []string
		wantReasons  []Reason
		wantErr      error
		wantCalls    int
	}{
		{
			name:         "admits and trims in one attempt",
			m:            &scripted{batches: [][]string{{"  Explain {{topic}} in a friendly way.\n", "Give a short, formal answer on {{topic}}."}}},
			count:        2,
			attempts:     3,
			wantAdmitted: []string{"Explain {{topic}} in a friendly way.", "Give a short, formal answer on {{topic}}."},
			wantCalls:    1,
		},
		{
			name: "deduplicates within a batch and retries for the rest",
			m: &scripted{batches: [][]string{
				{"Explain {{topic}} in a friendly way.", "explain {{topic}}   in a friendly way!"},
				{"Give a short, formal answer on {{topic}}."},
			}},
			count:        2,
			attempts:     3,
			wantAdmitted: []string{"Explain {{topic}} in a friendly way.", "Give a short, formal answer on {{topic}}."},
			wantReasons:  []Reason{ReasonDuplicate},
			wantCalls:    2,
		},
		{
			name:        "attempts are bounded",
			m:           &scripted{batches: [][]string{{parent}, {""}, {"Answer the question about {{topic}} politely!"}}},
			count:       1,
			attempts:    3,
			wantReasons: []Reason{ReasonDuplicate, ReasonEmpty, ReasonDuplicate},
			wantCalls:   3,
		},
		{
			name:         "a mutator error stops and keeps what was admitted",
			m:            &scripted{batches: [][]string{{"Explain {{topic}} in a friendly way."}}, errs: []error{failing}},
			count:        3,
			attempts:     5,
			wantAdmitted: []string{"Explain {{topic}} in a friendly way."},
			wantErr:      failing,
			wantCalls:    1,
		},
		{
			name:         "extra candidates beyond Count are ignored",
			m:            &scripted{batches: [][]string{{"Explain {{topic}} in a friendly way.", "Give a short, formal answer on {{topic}}."}}},
			count:        1,
			attempts:     1,
			wantAdmitted: []string{"Explain {{topic}} in a friendly way."},
			wantCalls:    1,
		},
		{
			name:      "Count zero asks for nothing",
			m:         &scripted{},
			count:     0,
			attempts:  3,
			wantCalls: 0,
		},
		{
			name:      "at least one attempt",
			m:         &scripted{},
			count:     1,
			attempts:  0,
			wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Guardrails{PreservePlaceholders: true, MinNovelty: 0.2}
			req := Request{Parent: parent, Count: tt.count, Seed: 99}
			admitted, rejected, err := Generate(context.Background(), tt.m, g, req, []string{parent}, tt.attempts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if len(admitted) != len(tt.wantAdmitted) {
				t.Fatalf("admitted %v, want %q", admitted, tt.wantAdmitted)
			}
			for i, c := range admitted {
				if c.Text != tt.wantAdmitted[i] {
					t.Errorf("admitted[%d] = %q, want %q", i, c.Text, tt.wantAdmitted[i])
				}
			}
			if len(rejected) != len(tt.wantReasons) {
				t.Fatalf("rejected %v, want reasons %v", rejected, tt.wantReasons)
			}
			for i, r := range rejected {
				if r.Reason != tt.wantReasons[i] {
					t.Errorf("rejected[%d] = %s, want %s", i, r, tt.wantReasons[i])
				}
			}
			if len(tt.m.reqs) != tt.wantCalls {
				t.Fatalf("%d calls, want %d", len(tt.m.reqs), tt.wantCalls)
			}
			// Every attempt asks only for what is missing, with a fresh seed
			// after the first.
			seeds := map[uint64]bool{}
			for i, r := range tt.m.reqs {
				if i == 0 && r.Seed != req.Seed {
					t.Errorf("the first attempt must use the request's seed")
				}
				if seeds[r.Seed] {
					t.Errorf("attempt %d repeats a seed", i)
				}
				seeds[r.Seed] = true
				if r.Count < 1 || r.Count > tt.count {
					t.Errorf("attempt %d asks for %d", i, r.Count)
				}
			}
		})
	}
}

func TestGenerateRejectsInvalidGuardrails(t *testing.T) {
	m := &scripted{}
	_, _, err := Generate(context.Background(), m, Guardrails{MinNovelty: 2}, Request{Parent: "x", Count: 1}, nil, 1)
	if err == nil || len(m.reqs) != 0 {
		t.Fatalf("err = %v after %d calls", err, len(m.reqs))
	}
}

func TestGenerateStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := &scripted{}
	_, _, err := Generate(ctx, m, Guardrails{}, Request{Parent: "x", Count: 1}, nil, 3)
	if !errors.Is(err, context.Canceled) || len(m.reqs) != 0 {
		t.Fatalf("err = %v after %d calls", err, len(m.reqs))
	}
}
