package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
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
