package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// writerAgent is the user agent of the simulated selectors' clients, by which the API server's
// audit log tells their requests from the controller's ("promptfolio/…", the manager binary)
// and the harness's own ("fleet/…").
const writerAgent = "fleet-writer"

// auditEvent is the part of an API-server audit event the harness reads.
type auditEvent struct {
	Stage     string `json:"stage"`
	Verb      string `json:"verb"`
	UserAgent string `json:"userAgent"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"responseStatus"`
	Received time.Time `json:"requestReceivedTimestamp"`
	Answered time.Time `json:"stageTimestamp"`
}

// party returns who sent the request: the writers, the controller or the harness.
func (e auditEvent) party() string {
	switch {
	case strings.HasPrefix(e.UserAgent, writerAgent):
		return "writers"
	case strings.HasPrefix(e.UserAgent, "promptfolio/"):
		return "controller"
	case strings.HasPrefix(e.UserAgent, "fleet/"):
		return "harness"
	}
	return "other (" + strings.SplitN(e.UserAgent, " ", 2)[0] + ")"
}

// auditSummary is what the audit log says of the write requests received within the window.
type auditSummary struct {
	// writes counts them by party, verb and resource.
	writes map[string]int
	// reportWrites counts the writers' writes of their counter reports (creations and patches).
	reportWrites int
	// failed describes every write answered 429 or 5xx.
	failed []string
}

// readAudit reads the audit log and sums the write requests received within [from, to].
func readAudit(path string, from, to time.Time) (auditSummary, error) {
	sum := auditSummary{writes: map[string]int{}}
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e auditEvent
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Stage != "ResponseComplete" && e.Stage != "Panic" {
			continue
		}
		if e.Received.Before(from) || e.Received.After(to) {
			continue
		}
		resource := e.ObjectRef.Resource
		if e.ObjectRef.Subresource != "" {
			resource += "/" + e.ObjectRef.Subresource
		}
		sum.writes[e.party()+" "+e.Verb+" "+resource]++
		if e.party() == "writers" && e.ObjectRef.Resource == "promptcounterreports" && (e.Verb == "create" || e.Verb == "patch") {
			sum.reportWrites++
		}
		if c := e.ResponseStatus.Code; c == 429 || c >= 500 {
			sum.failed = append(sum.failed, fmt.Sprintf("%d to %s %s %s %s, received %.1fs into the window, answered after %v: %.200s",
				c, e.party(), e.Verb, resource, e.ObjectRef.Name, e.Received.Sub(from).Seconds(), e.Answered.Sub(e.Received).Round(time.Millisecond), e.ResponseStatus.Message))
		}
	}
	return sum, sc.Err()
}

// perSecond formats the writes by party, verb and resource per second of sec.
func (s auditSummary) perSecond(sec float64) string {
	var out []string
	for k, n := range s.writes {
		out = append(out, fmt.Sprintf("%s %.2f/s", k, float64(n)/sec))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}
