package mutation

import (
	"math"
	"slices"
	"testing"
)

func TestNovelty(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want float64
	}{
		{"identical", "answer the question politely", "answer the question politely", 0},
		{"case, spacing and punctuation are ignored", "Answer the question, politely!", "answer  the\nquestion politely.", 0},
		{"disjoint", "answer the question politely", "summarise every article briefly", 1},
		{"both empty", "", "  ", 0},
		{"one empty", "", "answer the question", 1},
		{"short texts compare whole", "be brief", "Be brief.", 0},
		{"short texts that differ", "be brief", "be kind", 1},
		// a b c d e: {abc, bcd, cde}; a b c d f: {abc, bcd, cdf}: J = 2/4.
		{"one word changed at the end", "a b c d e", "a b c d f", 0.5},
		{"placeholders are words", "greet {{name}} warmly now", "greet {{user}} warmly now", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Novelty(tt.a, tt.b)
			if math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("Novelty(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if back := Novelty(tt.b, tt.a); back != got {
				t.Errorf("Novelty is not symmetric: %v and %v", got, back)
			}
		})
	}
}

func TestPlaceholders(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"no placeholders", []string{}},
		{"Hi {{name}}, about {{ order.id }} and {{name}} again", []string{"name", "order.id"}},
		{"{{  _private  }} {{a1_b.c}}", []string{"_private", "a1_b.c"}},
		{"not placeholders: {{}} {{ 1abc }} {name} {{a-b}} {{ a b }}", []string{}},
		{"{{{nested}}}", []string{"nested"}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			if got := Placeholders(tt.text); !slices.Equal(got, tt.want) {
				t.Errorf("Placeholders(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}
