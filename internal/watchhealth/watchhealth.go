// Package watchhealth keeps, for every kind a controller's cache watches, whether its watch is
// failing: since when and with what error. An informer whose list or watch fails keeps serving
// the last objects it had, so a reader of the cache cannot tell stale data from current data;
// this record can.
//
// A streak of failures starts at the first failure after a success and ends at the next success
// (a list or a watch the API server accepted). Failed and Succeeded are called by the cache's
// hooks; Failure and Unavailable by whoever must decide whether what the cache holds is current.
// The package is pure: it takes the time from its callers and knows nothing of Kubernetes.
package watchhealth

import (
	"sync"
	"time"
)

// Failure is a streak of failures of one kind's watch.
type Failure struct {
	// Kind is the watched kind.
	Kind string
	// Since is the time of the streak's first failure.
	Since time.Time
	// Err is the streak's latest error.
	Err error
}

// Unavailable reports whether the streak has lasted bound or longer at now; when it has not, due
// is when it will have.
func (f Failure) Unavailable(now time.Time, bound time.Duration) (unavailable bool, due time.Time) {
	due = f.Since.Add(bound)
	return !now.Before(due), due
}

// Tracker records the streaks of failures of watched kinds. The zero value is not ready for use;
// call New. It is safe for concurrent use.
type Tracker struct {
	mu      sync.Mutex
	failing map[string]Failure
	changed chan struct{}
}

// New returns a tracker in which no watch is failing.
func New() *Tracker {
	return &Tracker{failing: map[string]Failure{}, changed: make(chan struct{}, 1)}
}

// Failed records a failure of kind's watch at now and reports whether it started a streak. The
// first failure of a streak starts it and signals Changes.
func (t *Tracker) Failed(kind string, err error, now time.Time) (started bool) {
	t.mu.Lock()
	f, failing := t.failing[kind]
	if !failing {
		f = Failure{Kind: kind, Since: now}
	}
	f.Err = err
	t.failing[kind] = f
	t.mu.Unlock()
	if !failing {
		t.signal()
	}
	return !failing
}

// Succeeded records that kind's watch works: its streak of failures, if any, ends and Changes is
// signalled.
func (t *Tracker) Succeeded(kind string) {
	t.mu.Lock()
	_, ok := t.failing[kind]
	delete(t.failing, kind)
	t.mu.Unlock()
	if ok {
		t.signal()
	}
}

// Failure returns the current streak of failures of kind's watch, if it is failing.
func (t *Tracker) Failure(kind string) (Failure, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.failing[kind]
	return f, ok
}

// Changes receives a value after a streak starts or ends; signals that arrive before the last
// one was received are merged into it.
func (t *Tracker) Changes() <-chan struct{} { return t.changed }

func (t *Tracker) signal() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}
