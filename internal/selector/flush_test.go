package selector

import (
	"errors"
	"testing"
	"time"
)

// TestSchedule checks when the next report write is due: a fixed cadence after successes, and
// after failures never sooner than one interval, doubling up to maxBackoff or the interval.
func TestSchedule(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	failed := errors.New("504")
	const sec = time.Second
	type step struct {
		at   time.Duration // when the write ends, after t0
		err  error
		want time.Duration // the next write, after t0
	}
	// Each case is one sequence of writes, the first of which was due at t0.
	tests := []struct {
		name     string
		interval time.Duration
		steps    []step
	}{
		{"cadence: a write's duration does not add", 20 * sec, []step{
			{300 * time.Millisecond, nil, 20 * sec}, {22 * sec, nil, 40 * sec}}},
		{"a write longer than the interval starts a new cadence", 2 * sec, []step{
			{3 * sec, nil, 5 * sec}}},
		{"failures wait one interval, then double up to 30s", 20 * sec, []step{
			{10 * sec, failed, 30 * sec}, {40 * sec, failed, 70 * sec}, {80 * sec, failed, 110 * sec},
			{111 * sec, nil, 131 * sec}, {131 * sec, nil, 151 * sec}}},
		{"at the floor, failures double from one second", sec, []step{
			{0, failed, sec}, {sec, failed, 3 * sec}, {3 * sec, failed, 7 * sec}, {7 * sec, failed, 15 * sec},
			{15 * sec, failed, 31 * sec}, {31 * sec, failed, 61 * sec}, {61 * sec, failed, 91 * sec}}},
		{"an interval beyond 30s bounds the backoff", time.Minute, []step{
			{0, failed, time.Minute}, {time.Minute, failed, 2 * time.Minute}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var now time.Time
			f := &flusher{floor: time.Second, now: func() time.Time { return now }}
			p := &portfolioState{}
			p.report.interval.Store(int64(tt.interval))
			p.report.next = t0
			for i, s := range tt.steps {
				now = t0.Add(s.at)
				f.schedule(p, s.err)
				if got := p.report.next.Sub(t0); got != s.want {
					t.Fatalf("step %d (at %v, err %v): next write at %v, want %v", i, s.at, s.err, got, s.want)
				}
			}
		})
	}
}
