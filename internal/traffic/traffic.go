// Package traffic computes the recent traffic share of a portfolio's arms from their cumulative
// trial counts, and when a traffic window closes.
//
// Trials are counted in windows. A window opens when the previous one closes and closes at the
// first update at least MinDuration after it opened once it holds at least MinTrials trials. For
// each arm the caller keeps two numbers: its cumulative trials when the current window opened,
// and its trials in the previous window. An arm's recent share is
//
//	(previous window's trials + trials since the current window opened) / the same summed over arms
//
// so it covers between one and two windows: at least MinDuration of traffic and at least
// MinTrials trials, however high or low the traffic. Counts only grow, so an arm whose cumulative
// count is below its window start (a replaced object) counts from zero.
package traffic

import "time"

// Defaults of Config.
const (
	DefaultMinDuration       = 15 * time.Minute
	DefaultMinTrials   int64 = 100
)

// Config sizes the windows.
type Config struct {
	// MinDuration is the least time a window stays open. Default DefaultMinDuration.
	MinDuration time.Duration
	// MinTrials is the least number of trials a window holds before it closes. Default
	// DefaultMinTrials.
	MinTrials int64
}

func (c Config) withDefaults() Config {
	if c.MinDuration <= 0 {
		c.MinDuration = DefaultMinDuration
	}
	if c.MinTrials <= 0 {
		c.MinTrials = DefaultMinTrials
	}
	return c
}

// Arm is one arm's counts.
type Arm struct {
	// Trials is the arm's cumulative number of trials.
	Trials int64
	// WindowStart is Trials when the current window opened (0 for an arm created since).
	WindowStart int64
	// Previous is the arm's trials in the previous window.
	Previous int64
}

// Current is the arm's trials since the current window opened: all of them when Trials is below
// WindowStart.
func (a Arm) Current() int64 {
	if a.Trials < a.WindowStart {
		return a.Trials
	}
	return a.Trials - a.WindowStart
}

// Result is the outcome of Update.
type Result struct {
	// Shares holds each arm's recent share of trials, in the order of the arms; all 0 when no
	// arm has recent trials.
	Shares []float64
	// Arms holds the arms' counts after the update (new window starts when a window closed).
	Arms []Arm
	// Closed is true when the current window closed at now; then ClosedTrials holds each arm's
	// trials in the window that closed, and a new window opens at now.
	Closed       bool
	ClosedTrials []int64
	// WindowOpened is when the current window opened after the update.
	WindowOpened time.Time
}

// Update closes the current window (opened at opened; zero means it opens now) when it is due at
// now, and returns every arm's recent share.
func Update(cfg Config, now, opened time.Time, arms []Arm) Result {
	cfg = cfg.withDefaults()
	res := Result{Shares: make([]float64, len(arms)), Arms: append([]Arm(nil), arms...), WindowOpened: opened}
	if opened.IsZero() {
		res.WindowOpened = now
	}
	var inWindow int64
	for _, a := range arms {
		inWindow += a.Current()
	}
	if !opened.IsZero() && now.Sub(opened) >= cfg.MinDuration && inWindow >= cfg.MinTrials {
		res.Closed, res.ClosedTrials, res.WindowOpened = true, make([]int64, len(arms)), now
		for i, a := range arms {
			res.ClosedTrials[i] = a.Current()
			res.Arms[i] = Arm{Trials: a.Trials, WindowStart: a.Trials, Previous: a.Current()}
		}
	}
	var total int64
	for _, a := range res.Arms {
		total += a.Previous + a.Current()
	}
	if total == 0 {
		return res
	}
	for i, a := range res.Arms {
		res.Shares[i] = float64(a.Previous+a.Current()) / float64(total)
	}
	return res
}
