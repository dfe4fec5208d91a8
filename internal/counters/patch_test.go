package counters

import (
	"encoding/json"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

func TestFoldPatch(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		status map[string]any // status of the stored object; nil for none
		raise  v1alpha1.RewardCount
		ok     bool
		whole  bool
		want   v1alpha1.RewardCount // totals after the patch
	}{
		{"no status, selector raises", nil, rc(3, 4), true, true, rc(3, 4)},
		{"entry only (first apply created counters)", map[string]any{"counters": map[string]any{
			"writers": []any{map[string]any{"writer": "me", "successes": int64(5), "failures": int64(1)}}}},
			rc(6, 1), true, true, rc(6, 1)},
		{"guarded by tests", map[string]any{"counters": map[string]any{
			"base":    map[string]any{"successes": int64(10), "failures": int64(10)},
			"writers": []any{map[string]any{"writer": "other", "successes": int64(2), "failures": int64(2)}, map[string]any{"writer": "me", "successes": int64(5), "failures": int64(1)}},
			"folded":  []any{map[string]any{"writer": "old", "successes": int64(10), "failures": int64(10)}}}},
			rc(0, 0), true, false, rc(17, 13)},
		{"refold after a late write", map[string]any{"counters": map[string]any{
			"base":    map[string]any{"successes": int64(10), "failures": int64(10)},
			"writers": []any{map[string]any{"writer": "me", "successes": int64(12), "failures": int64(10)}},
			"folded":  []any{map[string]any{"writer": "me", "successes": int64(10), "failures": int64(10)}}}},
			rc(0, 0), true, false, rc(12, 10)},
		{"nothing to fold", map[string]any{"counters": map[string]any{
			"base":   map[string]any{"successes": int64(10), "failures": int64(10)},
			"folded": []any{map[string]any{"writer": "me", "successes": int64(10), "failures": int64(10)}}}},
			rc(4, 4), false, false, rc(10, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := map[string]any{"apiVersion": "prompts.promptfolio.dev/v1alpha1", "kind": "PromptArm",
				"metadata": map[string]any{"name": "a", "resourceVersion": "42"}}
			if tt.status != nil {
				obj["status"] = tt.status
			}
			u := &unstructured.Unstructured{Object: obj}
			patch, ok, err := FoldPatch(u, "me", tt.raise, now)
			if err != nil || ok != tt.ok {
				t.Fatalf("FoldPatch ok=%v err=%v", ok, err)
			}
			if !ok {
				return
			}
			var ops []jsonPatchOp
			_ = json.Unmarshal(patch, &ops)
			if whole := ops[0].Path == "/metadata/resourceVersion"; whole != tt.whole {
				t.Errorf("guarded by resourceVersion = %v, want %v: %s", whole, tt.whole, patch)
			}
			doc, _ := json.Marshal(obj)
			p, err := jsonpatch.DecodePatch(patch)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.Apply(doc)
			if err != nil {
				t.Fatalf("applying %s: %v", patch, err)
			}
			var after struct {
				Status v1alpha1.PromptArmStatus `json:"status"`
			}
			if err := json.Unmarshal(out, &after); err != nil {
				t.Fatal(err)
			}
			c := after.Status.Counters
			if got := Totals(c); got != tt.want {
				t.Errorf("totals after the patch %+v, want %+v (%s)", got, tt.want, out)
			}
			if indexOf(c.Writers, "me") >= 0 {
				t.Errorf("entry not removed: %s", out)
			}
			// A changed base makes the guarded patch fail instead of losing a concurrent fold.
			if !tt.whole {
				var moved map[string]any
				_ = json.Unmarshal(doc, &moved)
				_ = unstructured.SetNestedField(moved, int64(99), "status", "counters", "base", "successes")
				doc2, _ := json.Marshal(moved)
				if _, err := p.Apply(doc2); err == nil {
					t.Error("patch applied over a concurrent change of base")
				}
			}
		})
	}
}
