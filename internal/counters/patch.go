package counters

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

// jsonPatchOp is one RFC 6902 operation.
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// FoldPatch returns a JSON patch (RFC 6902) for the status subresource of arm that first raises
// writer's entry to at least raise (a selector passes what it acknowledged; the controller passes
// zero) and then folds it (see Fold). ok is false when there is nothing to fold.
//
// The patch is guarded by test operations on exactly the values the fold read (base, the
// writer's entry and its folded record), not by the resourceVersion: the API server applies it to
// the current object, so other writers' applies to their own entries, which arrive many times a
// second, do not make it fail, while a concurrent fold (which changes base) does, and the caller
// reads again and retries. When base or folded is missing from the object, or folded is full,
// the patch replaces the whole counters guarded by the resourceVersion instead.
func FoldPatch(arm *unstructured.Unstructured, writer string, raise v1alpha1.RewardCount, now time.Time) (patch []byte, ok bool, err error) {
	rawCounters, hasCounters, _ := unstructured.NestedMap(arm.Object, "status", "counters")
	var c v1alpha1.RewardCounters
	if hasCounters {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(rawCounters, &c); err != nil {
			return nil, false, fmt.Errorf("decoding status.counters: %w", err)
		}
	}
	next := c.DeepCopy()
	if !raiseEntry(next, writer, raise, now) {
		return nil, false, nil
	}
	Fold(next, writer, now)

	_, hasBase := rawCounters["base"]
	rawFolded, hasFolded := rawCounters["folded"].([]any)
	rawWriters, _ := rawCounters["writers"].([]any)
	j := indexOf(next.Folded, writer)
	old := indexOf(c.Folded, writer)
	grown := len(c.Folded)
	if old < 0 {
		grown++
	}
	if !hasBase || !hasFolded || len(rawFolded) != len(c.Folded) || len(next.Folded) != grown {
		// Missing fields cannot be guarded by a test, and a trimmed list changes many records.
		return wholePatch(arm, hasCounters, next)
	}
	ops := []jsonPatchOp{{Op: "test", Path: "/status/counters/base", Value: rawCounters["base"]}}
	if i := indexOf(c.Writers, writer); i >= 0 && i < len(rawWriters) {
		p := "/status/counters/writers/" + strconv.Itoa(i)
		ops = append(ops, jsonPatchOp{Op: "test", Path: p, Value: rawWriters[i]}, jsonPatchOp{Op: "remove", Path: p})
	}
	if old >= 0 {
		p := "/status/counters/folded/" + strconv.Itoa(old)
		ops = append(ops, jsonPatchOp{Op: "test", Path: p, Value: rawFolded[old]}, jsonPatchOp{Op: "replace", Path: p, Value: next.Folded[j]})
	} else {
		ops = append(ops, jsonPatchOp{Op: "add", Path: "/status/counters/folded/-", Value: next.Folded[j]})
	}
	ops = append(ops, jsonPatchOp{Op: "replace", Path: "/status/counters/base", Value: next.Base})
	patch, err = json.Marshal(ops)
	return patch, err == nil, err
}

// wholePatch replaces status.counters, guarded by the resourceVersion.
func wholePatch(arm *unstructured.Unstructured, hasCounters bool, next *v1alpha1.RewardCounters) ([]byte, bool, error) {
	ops := []jsonPatchOp{{Op: "test", Path: "/metadata/resourceVersion", Value: arm.GetResourceVersion()}}
	_, hasStatus := arm.Object["status"]
	switch {
	case hasCounters:
		ops = append(ops, jsonPatchOp{Op: "replace", Path: "/status/counters", Value: next})
	case hasStatus:
		ops = append(ops, jsonPatchOp{Op: "add", Path: "/status/counters", Value: next})
	default:
		ops = append(ops, jsonPatchOp{Op: "add", Path: "/status", Value: map[string]any{"counters": next}})
	}
	patch, err := json.Marshal(ops)
	return patch, err == nil, err
}

// raiseEntry makes writer's entry at least raise, adding one if needed, and reports whether
// folding it changes the counters.
func raiseEntry(c *v1alpha1.RewardCounters, writer string, raise v1alpha1.RewardCount, now time.Time) bool {
	i := indexOf(c.Writers, writer)
	seen := Seen(c, writer)
	if i < 0 && raise.Successes <= seen.Successes && raise.Failures <= seen.Failures {
		return false
	}
	if i < 0 {
		c.Writers = append(c.Writers, v1alpha1.WriterCount{Writer: writer})
		i = len(c.Writers) - 1
	}
	w := &c.Writers[i]
	if raise.Successes > w.Successes || raise.Failures > w.Failures {
		w.Successes = max(w.Successes, raise.Successes)
		w.Failures = max(w.Failures, raise.Failures)
		t := metavNow(now)
		w.UpdateTime = &t
	}
	return true
}
