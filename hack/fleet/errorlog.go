package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
)

// failure is one request that failed: an HTTP status of 400 or more, or no answer.
type failure struct {
	who, verb, resource string
	start, end          time.Time
	code                int // 0: no answer (a client-side timeout or a broken connection)
	canceled            bool
}

// errorLog keeps the failed requests of the run.
type errorLog struct {
	mu   sync.Mutex
	list []failure
}

func (l *errorLog) note(who string, req *http.Request, start, end time.Time, code int, err error) {
	verb := req.Method
	if req.URL.Query().Get("watch") == "true" {
		verb = "WATCH"
	}
	f := failure{who: who, verb: verb, resource: resourceOf(req), start: start, end: end, code: code}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && code < 400 {
		return
	}
	// A request its client gave up (a writer stopped with a write in flight) is kept apart: the
	// API server may count it as a 504; watches ended by a stop are not failures at all.
	if f.canceled = errors.Is(err, context.Canceled); f.canceled && verb == "WATCH" {
		return
	}
	l.list = append(l.list, f)
}

// The phases of a run that failures are sorted into.
const (
	phaseSteady = "steady"
	phasePause  = "pause"
	phaseAfter  = "after pause"
)

// errorCounts are the failures of one phase.
type errorCounts struct {
	code504, code429, timeouts, other, canceled int
}

func (c errorCounts) String() string {
	return fmt.Sprintf("%d / %d / %d / %d / %d", c.code504, c.code429, c.timeouts, c.other, c.canceled)
}

// classify sorts the failures of requests sent within [from, to] into phases: held by the pause
// (in flight at any moment of [pauseFrom, pauseTo]), after it (sent within catchUp of its end),
// and steady (the rest). Without a pause every failure is steady. It also returns one line per
// phase, party, verb, resource and status, for the log.
func (l *errorLog) classify(from, to, pauseFrom, pauseTo time.Time, catchUp time.Duration) (map[string]errorCounts, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]errorCounts{}
	detail := map[string]int{}
	for _, f := range l.list {
		if f.start.Before(from) || f.start.After(to) {
			continue
		}
		phase := phaseSteady
		switch {
		case pauseFrom.IsZero():
		case f.start.Before(pauseTo) && f.end.After(pauseFrom):
			phase = phasePause
		case !f.start.Before(pauseTo) && f.start.Before(pauseTo.Add(catchUp)):
			phase = phaseAfter
		}
		c := out[phase]
		switch {
		case f.canceled:
			c.canceled++
		case f.code == http.StatusGatewayTimeout:
			c.code504++
		case f.code == http.StatusTooManyRequests:
			c.code429++
		case f.code == 0:
			c.timeouts++
		default:
			c.other++
		}
		out[phase] = c
		outcome := strconv.Itoa(f.code)
		if f.canceled {
			outcome = "canceled by the client"
		}
		detail[fmt.Sprintf("%s: %s %s %s -> %s", phase, f.who, f.verb, f.resource, outcome)]++
	}
	var lines []string
	for k, n := range detail {
		lines = append(lines, fmt.Sprintf("%s (%d)", k, n))
	}
	sort.Strings(lines)
	return out, lines
}
