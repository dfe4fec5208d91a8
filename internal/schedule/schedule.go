// Package schedule decides when a portfolio's next evolution cycle is due.
//
// It is pure: every decision is a function of the spec (the schedule string, everyTrials,
// suspend), of what status remembers (the last cycle's start time, the trials counted then, the
// last handled run-now request) and of a clock value the caller passes in. Because nothing is
// kept in memory, a restarted controller computes the same next cycle as the one that stopped:
// it neither repeats a cycle nor skips one. A cycle that fell due while no controller ran is run
// once, not once per missed slot.
package schedule

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// MaxJitterFraction is the largest share of an interval that jitter adds to it: with "24h",
// cycles of different portfolios spread over 2h24m instead of starting at the same instant.
const MaxJitterFraction = 0.1

// MinInterval is the shortest interval schedule the API admits.
const MinInterval = time.Second

// cronParser reads five-field expressions (minute hour day-of-month month day-of-week) and
// descriptors such as "@daily". Expressions are evaluated in UTC.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed spec.evolution.schedule: either a fixed interval or a cron expression.
// The zero value is not usable; use Parse.
type Schedule struct {
	spec     string
	interval time.Duration
	cron     cron.Schedule
}

// Parse reads a schedule: a Go duration of at least MinInterval ("24h", "90s"), a five-field
// cron expression ("0 3 * * *") or a descriptor ("@daily"). The error says which form was
// expected and why the text is not one.
func Parse(spec string) (Schedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return Schedule{}, errors.New("schedule is empty")
	}
	if d, err := time.ParseDuration(spec); err == nil {
		if d < MinInterval {
			return Schedule{}, fmt.Errorf("schedule interval %q is shorter than %s", spec, MinInterval)
		}
		return Schedule{spec: spec, interval: d}, nil
	}
	if strings.HasPrefix(spec, "@every") {
		return Schedule{}, fmt.Errorf("schedule %q: write the interval alone, like \"1h\"", spec)
	}
	c, err := cronParser.Parse(spec)
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule %q is neither a duration nor a cron expression: %w", spec, err)
	}
	return Schedule{spec: spec, cron: c}, nil
}

// String returns the schedule as it was written.
func (s Schedule) String() string { return s.spec }

// Interval returns the interval of an interval schedule and false for a cron schedule.
func (s Schedule) Interval() (time.Duration, bool) { return s.interval, s.interval > 0 }

// Next returns when the cycle after one that started at base is due. Interval schedules add the
// interval and a jitter of up to MaxJitterFraction of it, derived from key and base, so the
// result is the same on every call and on every controller. Cron schedules return the next
// activation strictly after base, in UTC, without jitter: a cron time is a time a person chose.
func (s Schedule) Next(base time.Time, key string) time.Time {
	if s.interval > 0 {
		jitter := Jitter(key, base, time.Duration(float64(s.interval)*MaxJitterFraction))
		// The sum saturates instead of wrapping around for intervals near the longest duration.
		return base.Add(s.interval + min(jitter, math.MaxInt64-s.interval))
	}
	if s.cron == nil {
		return time.Time{}
	}
	return s.cron.Next(base.UTC())
}

// Jitter returns a duration in [0, max) determined by key and base alone: the FNV-1a hash of
// both, scaled. It is zero when max is not positive.
func Jitter(key string, base time.Time, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	_, _ = fmt.Fprintf(h, "@%d", base.UnixNano())
	return time.Duration(h.Sum64() % uint64(max))
}

// Trigger says why a cycle runs. The values are recorded in status.lastCycle.trigger.
type Trigger string

// Triggers, in the order Decide checks them.
const (
	// TriggerRequested: the run-cycle annotation has a value that was not handled yet.
	TriggerRequested Trigger = "Requested"
	// TriggerSchedule: the schedule's next time has come.
	TriggerSchedule Trigger = "Schedule"
	// TriggerEveryTrials: everyTrials new trials arrived since the last cycle.
	TriggerEveryTrials Trigger = "EveryTrials"
)

// State is what Decide needs to know: the clock, and what spec and status say.
type State struct {
	// Now is the current time.
	Now time.Time
	// Created is when the portfolio was created; before the first cycle, the schedule counts
	// from it, so a new portfolio collects evidence for one interval before it evolves.
	Created time.Time
	// LastCycle is status.lastCycleTime, zero before the first cycle.
	LastCycle time.Time
	// Key makes the jitter of one portfolio differ from another's; the portfolio's UID or
	// namespace/name.
	Key string
	// Suspend is spec.evolution.suspend: no cycle runs and none is scheduled.
	Suspend bool
	// EveryTrials is spec.evolution.everyTrials; zero or negative turns it off.
	EveryTrials int64
	// Trials is the portfolio's total of trials now; TrialsAtLastCycle the total when the last
	// cycle started (status.trialsAtLastCycle).
	Trials, TrialsAtLastCycle int64
	// Request is the value of the run-cycle annotation ("" when absent); LastHandledRequest is
	// status.lastHandledCycleRequest.
	Request, LastHandledRequest string
}

// Decision is the outcome of Decide.
type Decision struct {
	// Due is true when a cycle should start now.
	Due bool
	// Trigger is why (empty when not due).
	Trigger Trigger
	// Next is when the schedule makes the next cycle due, counted from the last cycle (or the
	// creation); zero when suspended. When Due is true and a cycle starts now, the caller
	// computes the following time with Next(now, key).
	Next time.Time
}

// Decide says whether a cycle is due at st.Now, and why. A run-now request wins over the
// schedule, which wins over everyTrials; all are ignored while suspended (a pending request
// stays pending and runs when the portfolio is resumed).
func (s Schedule) Decide(st State) Decision {
	if st.Suspend {
		return Decision{}
	}
	base := st.LastCycle
	if base.IsZero() {
		base = st.Created
	}
	d := Decision{Next: s.Next(base, st.Key)}
	switch {
	case st.Request != "" && st.Request != st.LastHandledRequest:
		d.Due, d.Trigger = true, TriggerRequested
	case !d.Next.IsZero() && !st.Now.Before(d.Next):
		d.Due, d.Trigger = true, TriggerSchedule
	case st.EveryTrials > 0 && st.Trials-st.TrialsAtLastCycle >= st.EveryTrials:
		d.Due, d.Trigger = true, TriggerEveryTrials
	}
	return d
}
