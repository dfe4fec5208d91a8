package mutation

import (
	"encoding/json"
	"regexp"
	"strings"

	openai "github.com/sashabaranov/go-openai"
)

// Seed streams: independent random sequences drawn from one Request.Seed.
const (
	seedStreamAngles    = 0x616e676c6573     // OpenAI: order of angle hints
	seedStreamOffline   = 0x6f66666c696e65   // Offline: one stream per candidate
	seedStreamGenerate  = 0x67656e6572617465 // Generate: seed of later attempts
	maxEarlierVariants  = 3                  // earlier variants shown to the model
	systemPromptPreface = `You write variants of prompts for an application that uses a language model. ` +
		`Given a prompt, write one new version that keeps its intent, its audience and every constraint it states, ` +
		`but differs clearly in wording or structure, so that the two versions can be compared on live traffic.`
)

// angleHints steer successive calls towards different kinds of variation, so
// that the variants of one cycle differ from each other.
var angleHints = []string{
	"change the tone of voice",
	"reorganise the structure, for example turning prose into steps or steps into prose",
	"say the same thing more concisely",
	"change which instruction is emphasised most",
	"change the order in which the instructions appear",
	"give the assistant a clearer role",
	"add or change guidance on the format of the answer",
	"make the intended reader more explicit",
	"rephrase the instructions in different words",
	"ask the model to check its answer against the request before replying",
}

// chatRequest builds the chat-completion request for one variant.
func (m *OpenAI) chatRequest(req Request, hint string, earlier []Candidate) openai.ChatCompletionRequest {
	var sys strings.Builder
	sys.WriteString(systemPromptPreface)
	sys.WriteString("\n\nRules:\n")
	if names := Placeholders(req.Parent); len(names) > 0 {
		sys.WriteString("- The prompt contains these placeholders in double braces; keep each of them exactly as written and add no others: ")
		for i, n := range names {
			if i > 0 {
				sys.WriteString(", ")
			}
			sys.WriteString("{{" + n + "}}")
		}
		sys.WriteString(".\n")
	} else {
		sys.WriteString("- The prompt has no placeholders; do not add any text in double braces.\n")
	}
	sys.WriteString("- Keep examples, code and data that the prompt quotes unchanged.\n")
	sys.WriteString("- Reply with the new prompt only: no title, no explanation, no surrounding quotes, no code fences.\n")
	sys.WriteString("\nFor this variant, " + hint + ".")
	if ins := strings.TrimSpace(req.Instructions); ins != "" {
		sys.WriteString("\n\nThe prompt's owner adds these instructions for you (follow them, do not copy them into the prompt):\n" + ins)
	}

	var user strings.Builder
	user.WriteString("<prompt>\n" + req.Parent + "\n</prompt>")
	if len(earlier) > 0 {
		user.WriteString("\n\nYour variant must also differ from these variants written earlier:")
		for _, c := range earlier[max(0, len(earlier)-maxEarlierVariants):] {
			user.WriteString("\n<variant>\n" + c.Text + "\n</variant>")
		}
	}
	return openai.ChatCompletionRequest{
		Model: m.model,
		Messages: []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: sys.String()},
			{Role: openai.ChatMessageRoleUser, Content: user.String()},
		},
	}
}

var (
	// fenceRE matches a whole reply wrapped in a Markdown code fence, with an
	// optional language tag.
	fenceRE = regexp.MustCompile("(?s)^(```|~~~)[A-Za-z0-9_-]*[ \t]*\n(.*?)\n?(```|~~~)$")
	// tagRE matches a reply wrapped in the tags the request used.
	tagRE = regexp.MustCompile(`(?s)^<(prompt|variant)>\s*(.*?)\s*</(prompt|variant)>$`)
	// leadInRE matches a chatty first line such as "Here is the rewritten
	// prompt:" or a label such as "Variant:".
	leadInRE = regexp.MustCompile(`(?i)^(?:(?:sure[,!.]?\s*)?here(?:'s| is)[^\n]{0,60}:\s*\n|(?:new |rewritten |revised )?(?:prompt|variant|version)\s*:\s*)`)
	// quotePairs are the quotes a model may wrap its whole reply in.
	quotePairs = [][2]string{{`"`, `"`}, {`'`, `'`}, {"“", "”"}, {"‘", "’"}, {"«", "»"}, {"`", "`"}}
	// jsonKeys are the fields a model may use when it answers in JSON.
	jsonKeys = []string{"prompt", "variant", "text", "rewritten_prompt", "new_prompt"}
)

// cleanOutput extracts the prompt from a model's reply: it removes code
// fences, the request's tags, a chatty lead-in, a JSON wrapper and
// surrounding quotes, repeatedly, and trims whitespace. The result may be
// empty.
func cleanOutput(s string) string {
	s = strings.TrimSpace(s)
	for range 4 {
		before := s
		if m := fenceRE.FindStringSubmatch(s); m != nil {
			s = m[2]
		}
		if m := tagRE.FindStringSubmatch(s); m != nil && m[1] == m[3] {
			s = m[2]
		}
		s = leadInRE.ReplaceAllString(s, "")
		s = unwrapJSON(s)
		for _, q := range quotePairs {
			if len(s) >= len(q[0])+len(q[1]) && strings.HasPrefix(s, q[0]) && strings.HasSuffix(s, q[1]) &&
				!strings.Contains(s[len(q[0]):len(s)-len(q[1])], q[1]) {
				s = s[len(q[0]) : len(s)-len(q[1])]
				break
			}
		}
		s = strings.TrimSpace(s)
		if s == before {
			break
		}
	}
	return s
}

// unwrapJSON returns the prompt inside a JSON string or object reply, or s
// unchanged when s is not such JSON.
func unwrapJSON(s string) string {
	if !strings.HasPrefix(s, "{") && !strings.HasPrefix(s, `"`) {
		return s
	}
	var str string
	if json.Unmarshal([]byte(s), &str) == nil {
		return str
	}
	var obj map[string]any
	if json.Unmarshal([]byte(s), &obj) != nil {
		return s
	}
	for _, k := range jsonKeys {
		if v, ok := obj[k].(string); ok {
			return v
		}
	}
	if len(obj) == 1 {
		for _, v := range obj {
			if str, ok := v.(string); ok {
				return str
			}
		}
	}
	return s
}
