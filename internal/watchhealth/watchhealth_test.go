package watchhealth

import (
	"errors"
	"testing"
	"time"
)

func TestStreaks(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	errA, errB := errors.New("forbidden"), errors.New("connection refused")
	type step struct {
		fail    error // nil: a success
		at      time.Duration
		since   time.Duration // want, when failing
		err     error
		failing bool
		signal  bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a success without failures changes nothing", []step{{at: 0}}},
		{"the first failure starts a streak", []step{{fail: errA, at: 1, since: 1, err: errA, failing: true, signal: true}}},
		{"later failures keep its start and update its error", []step{
			{fail: errA, at: 1, since: 1, err: errA, failing: true, signal: true},
			{fail: errB, at: 5, since: 1, err: errB, failing: true},
		}},
		{"a success ends it and the next failure starts another", []step{
			{fail: errA, at: 1, since: 1, err: errA, failing: true, signal: true},
			{at: 2, signal: true},
			{at: 3},
			{fail: errB, at: 4, since: 4, err: errB, failing: true, signal: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New()
			for i, s := range tt.steps {
				if s.fail != nil {
					tr.Failed("PromptCounterReport", s.fail, t0.Add(s.at*time.Second))
				} else {
					tr.Succeeded("PromptCounterReport")
				}
				var signalled bool
				select {
				case <-tr.Changes():
					signalled = true
				default:
				}
				if signalled != s.signal {
					t.Errorf("step %d: signalled %v, want %v", i, signalled, s.signal)
				}
				f, failing := tr.Failure("PromptCounterReport")
				if failing != s.failing {
					t.Fatalf("step %d: failing %v, want %v", i, failing, s.failing)
				}
				if failing && (!f.Since.Equal(t0.Add(s.since*time.Second)) || !errors.Is(f.Err, s.err) || f.Kind != "PromptCounterReport") {
					t.Errorf("step %d: %+v, want since +%ds with %v", i, f, s.since, s.err)
				}
			}
			if _, failing := tr.Failure("PromptArm"); failing {
				t.Error("another kind is failing")
			}
		})
	}
}

func TestUnavailable(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := Failure{Kind: "PromptCounterReport", Since: t0}
	tests := []struct {
		after time.Duration
		want  bool
	}{{0, false}, {29 * time.Second, false}, {30 * time.Second, true}, {time.Hour, true}}
	for _, tt := range tests {
		got, due := f.Unavailable(t0.Add(tt.after), 30*time.Second)
		if got != tt.want || !due.Equal(t0.Add(30*time.Second)) {
			t.Errorf("after %s: unavailable %v due %s, want %v due %s", tt.after, got, due, tt.want, t0.Add(30*time.Second))
		}
	}
}

func TestSignalsMerge(t *testing.T) {
	tr := New()
	tr.Failed("A", errors.New("x"), time.Now())
	tr.Failed("B", errors.New("y"), time.Now())
	<-tr.Changes()
	select {
	case <-tr.Changes():
		t.Error("two signals were not merged into one")
	default:
	}
}
