// Package counters is the arithmetic of the reward counters in PromptArm status: a grow-only
// counter (G-counter) with one entry per selector process (a writer), a base that absorbs the
// entries of writers that stopped, and a bounded record of what was folded.
//
// The package is pure: it reads and changes v1alpha1 values and never talks to the API server.
// Selectors and the controller share it so that both compute the same totals.
//
// # The invariant
//
// Every writer only ever raises its entry (it writes cumulative counts since it started, with
// server-side apply under its own field manager, so a retried write is harmless). Folding a
// writer adds to base what its entry holds beyond what was folded for it before, and records the
// entry's value in folded. A writer's contribution to the totals is therefore
//
//	max(entry, folded) over its lifetime, counted once:
//	Totals = base + Σ_writers max(0, entry − folded[writer])
//
// so a late write from a writer that was already folded (a slow request that reached the API
// server after the fold) counts only what it adds beyond the fold, and folding again is a no-op.
//
// # Writing a fold
//
// Fold changes a value in memory. To write one, use FoldPatch: a JSON patch for the status
// subresource guarded by test operations on the values the fold read. A fold guarded by the
// resourceVersion alone would rarely succeed on a busy arm, because every selector applies its
// entry several times a second; the test-guarded patch fails only when base or the folded writer's
// records changed meanwhile (another fold), and the caller then reads again and retries.
//
// # Gone writers
//
// Each selector process holds a coordination.k8s.io Lease named LeaseName(writer) in the arms'
// namespace and renews it while it runs; on a graceful stop it folds its own entries and deletes
// the Lease. A writer whose Lease is missing or expired for longer than a grace period is gone
// (see Gone) and the controller may fold its entries. Folding a writer that is in fact alive is
// safe as long as its folded record is kept: its next cumulative write counts only the increase.
// The folded record is bounded (MaxFolded, oldest dropped first); writer ids are unique per process
// incarnation, so a dropped record only matters for a writer that writes again after MaxFolded
// newer folds, which the grace period makes practically impossible.
package counters

import (
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

// MaxFolded bounds status.counters.folded. It is below the CRD's MaxItems of 1000.
const MaxFolded = 500

// LeaseLabel marks the Leases of selector writers, so the controller can list them.
const LeaseLabel = "promptfolio.dev/selector-writer"

// Totals returns base plus, for every writer entry, what it holds beyond what was folded for that
// writer. A nil counter has zero totals. Negative entries (which validation forbids) count as zero.
func Totals(c *v1alpha1.RewardCounters) v1alpha1.RewardCount {
	if c == nil {
		return v1alpha1.RewardCount{}
	}
	t := c.Base
	for _, w := range c.Writers {
		s, f := beyondFolded(c, w)
		t.Successes += s
		t.Failures += f
	}
	return t
}

// beyondFolded returns what entry w holds beyond the folded record of its writer.
func beyondFolded(c *v1alpha1.RewardCounters, w v1alpha1.WriterCount) (successes, failures int64) {
	var done v1alpha1.WriterCount
	if i := indexOf(c.Folded, w.Writer); i >= 0 {
		done = c.Folded[i]
	}
	return max(0, w.Successes-done.Successes), max(0, w.Failures-done.Failures)
}

// Seen returns the largest cumulative count of writer that the counters reflect: its entry, or
// what was folded for it, whichever is larger per field. A writer adds its own unflushed rewards on
// top of the totals as its acknowledged counts minus Seen.
func Seen(c *v1alpha1.RewardCounters, writer string) v1alpha1.RewardCount {
	var seen v1alpha1.RewardCount
	if c == nil {
		return seen
	}
	if i := indexOf(c.Writers, writer); i >= 0 {
		seen.Successes, seen.Failures = c.Writers[i].Successes, c.Writers[i].Failures
	}
	if i := indexOf(c.Folded, writer); i >= 0 {
		seen.Successes = max(seen.Successes, c.Folded[i].Successes)
		seen.Failures = max(seen.Failures, c.Folded[i].Failures)
	}
	return seen
}

// Fold moves writer's entry into base: base gains what the entry holds beyond the writer's folded
// record, the record is set to the entry's values (never lowered), and the entry is removed.
// Totals are unchanged by a fold. folded keeps at most MaxFolded records; the oldest by time are
// dropped. Fold reports whether c changed; it does nothing when writer has no entry.
func Fold(c *v1alpha1.RewardCounters, writer string, now time.Time) bool {
	if c == nil {
		return false
	}
	i := indexOf(c.Writers, writer)
	if i < 0 {
		return false
	}
	w := c.Writers[i]
	s, f := beyondFolded(c, w)
	c.Base.Successes += s
	c.Base.Failures += f
	c.Writers = slices.Delete(c.Writers, i, i+1)

	at := metavNow(now)
	if j := indexOf(c.Folded, writer); j >= 0 {
		rec := &c.Folded[j]
		rec.Successes = max(rec.Successes, w.Successes)
		rec.Failures = max(rec.Failures, w.Failures)
		rec.UpdateTime = &at
	} else {
		c.Folded = append(c.Folded, v1alpha1.WriterCount{Writer: writer, Successes: w.Successes, Failures: w.Failures, UpdateTime: &at})
	}
	trimFolded(c)
	return true
}

// trimFolded drops the oldest folded records beyond MaxFolded.
func trimFolded(c *v1alpha1.RewardCounters) {
	if len(c.Folded) <= MaxFolded {
		return
	}
	slices.SortStableFunc(c.Folded, func(a, b v1alpha1.WriterCount) int {
		return timeOf(b).Compare(timeOf(a)) // newest first
	})
	c.Folded = c.Folded[:MaxFolded]
	slices.SortFunc(c.Folded, func(a, b v1alpha1.WriterCount) int { return strings.Compare(a.Writer, b.Writer) })
}

// metavNow returns now as the API stores it: UTC, whole seconds.
func metavNow(now time.Time) metav1.Time {
	return metav1.NewTime(now.UTC().Truncate(time.Second))
}

func timeOf(w v1alpha1.WriterCount) time.Time {
	if w.UpdateTime == nil {
		return time.Time{}
	}
	return w.UpdateTime.Time
}

func indexOf(list []v1alpha1.WriterCount, writer string) int {
	return slices.IndexFunc(list, func(w v1alpha1.WriterCount) bool { return w.Writer == writer })
}

// LeaseName returns the name of the Lease that writer holds while it runs.
func LeaseName(writer string) string {
	return writer
}

// Gone reports whether the writer of entry has stopped for good, judged by its Lease (nil when
// there is none) at time now:
//   - with a Lease: its last renewal plus its duration plus grace lies before now;
//   - without a Lease: the entry's updateTime (its last flush) plus grace lies before now; an
//     entry without updateTime is judged by the Lease alone, so it is gone only when the Lease is
//     missing.
//
// grace covers clock skew and the delay between a selector's start and its first renewal.
func Gone(entry v1alpha1.WriterCount, lease *coordinationv1.Lease, now time.Time, grace time.Duration) bool {
	if lease == nil {
		return entry.UpdateTime == nil || entry.UpdateTime.Add(grace).Before(now)
	}
	last := lease.CreationTimestamp.Time
	if lease.Spec.RenewTime != nil {
		last = lease.Spec.RenewTime.Time
	} else if lease.Spec.AcquireTime != nil {
		last = lease.Spec.AcquireTime.Time
	}
	var d time.Duration
	if lease.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
	}
	return last.Add(d + grace).Before(now)
}
