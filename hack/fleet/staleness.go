package main

import (
	"slices"
	"sync"
	"time"
)

// track follows one writer's rewards from their 202 to the report write that carries them.
type track struct {
	mu      sync.Mutex
	arms    map[string]*armLine
	acks    map[string][]int64   // by arm: when each reward was acknowledged, Unix ns (zero: outside the window)
	carried map[string]int64     // by arm: rewards carried by the writes that landed
	last    map[string]*landing  // by arm: the last write that landed
	window  func(time.Time) bool // whether a reward acknowledged then is measured
}

func newTrack(arms map[string]*armLine, window func(time.Time) bool) *track {
	return &track{arms: arms, acks: map[string][]int64{}, carried: map[string]int64{}, last: map[string]*landing{}, window: window}
}

// ack notes a reward of arm acknowledged at t.
func (t *track) ack(arm string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ns int64
	if t.window(at) {
		ns = at.UnixNano()
	}
	t.acks[arm] = append(t.acks[arm], ns)
	if n := int64(len(t.acks[arm])); n <= t.carried[arm] && ns != 0 {
		// A write that landed before the harness noted the 202 (the handler had answered)
		// carried it already.
		t.last[arm].add(ns)
	}
}

// landed notes a report write sent at sent and answered at done with these cumulative counts.
func (t *track) landed(counts map[string]int64, sent, done time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for arm, n := range counts {
		from := t.carried[arm]
		line := t.arms[arm]
		if n <= from || line == nil {
			continue
		}
		t.carried[arm] = n
		l := &landing{sent: sent, done: done}
		for _, at := range t.acks[arm][from:min(n, int64(len(t.acks[arm])))] {
			if at != 0 {
				l.add(at)
			}
		}
		t.last[arm] = l
		line.add(l, n-from)
	}
}

// landing is one report write's share of one arm: the rewards it carried that are measured.
type landing struct {
	sent, done time.Time
	mu         sync.Mutex
	acks       []int64 // Unix ns
	upTo       int64   // the arm's landed rewards, all writers, with this write's
}

func (l *landing) add(at int64) {
	l.mu.Lock()
	l.acks = append(l.acks, at)
	l.mu.Unlock()
}

// armLine is one arm's landed report writes in the order they landed.
type armLine struct {
	mu       sync.Mutex
	landings []*landing
	total    int64 // rewards landed, all writers
	visible  int   // landings the arm's status holds
}

func (a *armLine) add(l *landing, n int64) {
	a.mu.Lock()
	a.total += n
	l.upTo = a.total
	a.landings = append(a.landings, l)
	a.mu.Unlock()
}

// stages are the measured rewards' staleness and its parts.
type stages struct {
	mu sync.Mutex
	// wait: 202 to the start of the report write that carried it; write: that write's
	// duration; aggregate: its answer to the arm's status holding it (as polled); total: 202 to
	// the status.
	wait, write, aggregate, total []time.Duration
}

// seen notes that the arm's status holds trials rewards at now: every landing up to that
// count is visible, and its rewards are measured.
func (a *armLine) seen(trials int64, now time.Time, st *stages) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for ; a.visible < len(a.landings) && a.landings[a.visible].upTo <= trials; a.visible++ {
		l := a.landings[a.visible]
		l.mu.Lock()
		st.mu.Lock()
		for _, ns := range l.acks {
			at := time.Unix(0, ns)
			st.wait = append(st.wait, max(0, l.sent.Sub(at)))
			st.write = append(st.write, l.done.Sub(l.sent))
			st.aggregate = append(st.aggregate, now.Sub(l.done))
			st.total = append(st.total, now.Sub(at))
		}
		st.mu.Unlock()
		l.mu.Unlock()
	}
}

// quantiles returns the p50 and p99 of d.
func quantiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*99/100]
}
