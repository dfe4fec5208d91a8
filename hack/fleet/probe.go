package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// probe is a client's transport that sees every request it sends: report writes, to time the
// stages of a reward's staleness, and failed requests, to tell where errors come from.
type probe struct {
	rt    http.RoundTripper
	who   string // "writer"
	errs  *errorLog
	track *track // the writer's rewards
}

// reportWrite is the part of a report patch the probe reads: the cumulative counts.
type reportWrite struct {
	Spec struct {
		Arms []struct {
			Arm                 string
			Successes, Failures int64
		}
	}
}

// RoundTrip sends req and notes its outcome.
func (p *probe) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	// A report write is a patch, or the creation that a writer's first write is.
	report := p.track != nil && (req.Method == http.MethodPatch || req.Method == http.MethodPost) && resourceOf(req) == "promptcounterreports"
	if report && req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	start := time.Now()
	resp, err := p.rt.RoundTrip(req)
	end := time.Now()
	code := 0
	if resp != nil {
		code = resp.StatusCode
	}
	p.errs.note(p.who, req, start, end, code, err)
	if report && err == nil && code/100 == 2 {
		var w reportWrite
		if json.Unmarshal(body, &w) == nil {
			counts := map[string]int64{}
			for _, a := range w.Spec.Arms {
				counts[a.Arm] = a.Successes + a.Failures
			}
			p.track.landed(counts, start, end)
		}
	}
	return resp, err
}

// resourceOf returns the resource of an API request's path: /apis/<group>/<version>/namespaces/<ns>/<resource>[/<name>].
func resourceOf(req *http.Request) string {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	for i, p := range parts {
		if p == "namespaces" && i+2 < len(parts) {
			return parts[i+2]
		}
	}
	if len(parts) > 0 {
		return parts[len(parts)-1]
	}
	return ""
}

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
