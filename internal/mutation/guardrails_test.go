package mutation

import (
	"regexp"
	"strings"
	"testing"
)

func TestCompilePatterns(t *testing.T) {
	res, err := CompilePatterns([]string{`(?i)competitor`, `\bguarantee(d)?\b`})
	if err != nil || len(res) != 2 {
		t.Fatalf("CompilePatterns(valid) = %v, %v", res, err)
	}
	_, err = CompilePatterns([]string{`ok`, `(unclosed`, `a**`})
	if err == nil {
		t.Fatal("CompilePatterns accepted an invalid pattern")
	}
	for _, want := range []string{"pattern 1", `"(unclosed"`, "RE2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	// RE2 has no look-around; the error must say so rather than panic.
	if _, err := CompilePatterns([]string{`foo(?!bar)`}); err == nil {
		t.Error("CompilePatterns accepted a look-ahead, which RE2 does not support")
	}
}

func TestGuardrailsValidate(t *testing.T) {
	tests := []struct {
		name    string
		g       Guardrails
		wantErr string
	}{
		{"zero value", Guardrails{}, ""},
		{"full", Guardrails{MaxLength: 10, MinNovelty: 1, Forbidden: []*regexp.Regexp{regexp.MustCompile("x")}}, ""},
		{"negative length", Guardrails{MaxLength: -1}, "maxLength"},
		{"novelty above one", Guardrails{MinNovelty: 1.5}, "minNovelty"},
		{"negative novelty", Guardrails{MinNovelty: -0.1}, "minNovelty"},
		{"nil pattern", Guardrails{Forbidden: []*regexp.Regexp{nil}}, "pattern 0 is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.g.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestGuardrailsCheck(t *testing.T) {
	const parent = "You are a support agent for {{company}}. Answer the question politely and never promise refunds. Question: {{ question }}"
	history := []string{
		parent,
		"You are a support agent for {{company}}. Be brief. Answer the question politely and never promise refunds. Question: {{question}}",
		"A retired prompt about {{company}} that asked for jokes in every reply to {{question}}, which did not convert.",
	}
	good := "You are a support agent for {{company}}. Use a warm, friendly tone and keep the reply to three sentences. Never promise refunds. Question: {{question}}"
	full := Guardrails{
		MaxLength:            400,
		Forbidden:            []*regexp.Regexp{regexp.MustCompile(`(?i)\bguarantee`), regexp.MustCompile(`https?://`)},
		PreservePlaceholders: true,
		MinNovelty:           0.3,
		Instructions:         "Address the customer informally and mention our loyalty programme.",
	}
	tests := []struct {
		name    string
		g       Guardrails
		text    string
		history []string
		want    Reason // "" means admitted
	}{
		{"admits a distinct child", full, good, history, ""},
		{"empty", full, "", history, ReasonEmpty},
		{"only whitespace", full, " \n\t ", history, ReasonEmpty},
		{"too long", full, good + strings.Repeat(" Stay calm.", 30), history, ReasonTooLong},
		{"length counts characters, not bytes", Guardrails{MaxLength: 5}, "ééééé", nil, ""},
		{"one character over", Guardrails{MaxLength: 5}, "éééééé", nil, ReasonTooLong},
		{"no length limit", Guardrails{}, strings.Repeat("word ", 5000), nil, ""},
		{"forbidden pattern", full, good + " We GUARANTEE satisfaction.", history, ReasonForbiddenPattern},
		{"second forbidden pattern", full, good + " See http://example.com.", history, ReasonForbiddenPattern},
		{"placeholder missing", full, "You are a support agent for {{company}}. Use a warm, friendly tone and keep the reply short. Never promise refunds.", history, ReasonPlaceholderMissing},
		{"placeholder mangled", full, "You are a support agent for {{company}}. Use a warm, friendly tone and keep the reply short. Never promise refunds. Question: { question }", history, ReasonPlaceholderMissing},
		{"placeholder invented", full, good + " Greet {{customer_name}} first.", history, ReasonPlaceholderInvented},
		{"placeholders not preserved when not asked", Guardrails{MinNovelty: 0.3}, "Write a friendly answer without any template variables at all.", history, ""},
		{"placeholder spacing and repetition do not matter", full, "You are a support agent for {{ company }} ({{company}}). Use a warm, friendly tone and keep the reply to three sentences. Never promise refunds. Question: {{question}}", history, ""},
		{"echoes instructions", full, good + " Address the customer informally and mention our loyalty programme.", history, ReasonEchoesInstructions},
		{"echo tolerated when the parent already says it", Guardrails{Instructions: "answer the question politely and never promise refunds"}, "Be warm. " + parent, nil, ""},
		{"short instructions are not checked", Guardrails{Instructions: "be formal"}, "Be formal. Answer {{question}}.", nil, ""},
		{"duplicate of the parent, different case and spacing", full, strings.ReplaceAll(strings.Replace(parent, "Answer", "ANSWER", 1), " ", "\n  ") + "  ", history, ReasonDuplicate},
		{"duplicate of a retired prompt", full, history[2], history, ReasonDuplicate},
		{"duplicate of the parent even with no history", Guardrails{}, parent, nil, ReasonDuplicate},
		{"too similar to the parent", full, parent + " Thanks.", history, ReasonTooSimilar},
		{"too similar to a history prompt", full, history[1] + " Smile.", []string{history[1]}, ReasonTooSimilar},
		{"novelty zero admits any non-duplicate", Guardrails{}, parent + " Thanks.", history, ""},
		{"novelty one rejects shared wording", Guardrails{MinNovelty: 1}, "Answer the question politely, always.", history, ReasonTooSimilar},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.g.Check(Candidate{Text: tt.text, Operator: "test"}, parent, tt.history)
			switch {
			case tt.want == "" && r != nil:
				t.Fatalf("Check rejected: %s", r)
			case tt.want != "" && r == nil:
				t.Fatalf("Check admitted, want %s", tt.want)
			case tt.want != "" && r.Reason != tt.want:
				t.Fatalf("Check = %s, want reason %s", r, tt.want)
			}
			if r == nil {
				return
			}
			if r.Message == "" || len(r.Message) > 120 {
				t.Errorf("message %q should be short and non-empty", r.Message)
			}
			if r.Candidate.Text != tt.text || r.Candidate.Operator != "test" {
				t.Errorf("rejection does not carry the candidate")
			}
		})
	}
}
