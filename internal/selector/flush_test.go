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
	type step struct {
		at   time.Duration // when the write ends, after t0
		err  error
		want time.Duration // the next write, after t0
	}
	tests := []struct {
		name     string
		interval time.Duration
		due      time.Duration // the write that ends at the first step was due then
		steps    []step
	}{
		{"cadence: a write's duration does not add", 20 * time.Second, 0, []step{
			{300 * time.Millisecond, nil, 20 * time.Second},
			{20*time.Second + 2*time.Second, nil, 40 * time.Second},
		}},
		{"a write longer than the interval starts a new cadence", 2 * time.Second, 0, []step{
			{3 * time.Second, nil, 5 * time.Second},
		}},
		{"failures wait one interval, then double up to 30s", 20 * time.Second, 0, []step{
			{10 * time.Second, failed, 30 * time.Second},
			{40 * time.Second, failed, 70 * time.Second},
			{80 * time.Second, failed, 110 * time.Second},
			{111 * time.Second, nil, 131 * time.Second},
			{131 * time.Second, nil, 151 * time.Second},
		}},
		{"at the floor, failures double from one second", time.Second, 0, []step{
			{0, failed, time.Second},
			{time.Second, failed, 3 * time.Second},
			{3 * time.Second, failed, 7 * time.Second},
			{7 * time.Second, failed, 15 * time.Second},
			{15 * time.Second, failed, 31 * time.Second},
			{31 * time.Second, failed, 61 * time.Second},
			{61 * time.Second, failed, 91 * time.Second},
		}},
		{"an interval beyond 30s bounds the backoff", time.Minute, 0, []step{
			{0, failed, time.Minute},
			{time.Minute, failed, 2 * time.Minute},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var now time.Time
			f := &flusher{floor: time.Second, now: func() time.Time { return now }}
			p := &portfolioState{}
			p.report.interval.Store(int64(tt.interval))
			p.report.next = t0.Add(tt.due)
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
